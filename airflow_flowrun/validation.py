"""Local checks of user input: ids and times. Everything here runs before any HTTP call.

Times travel to Flow Service as integer epoch seconds. We accept what DAG authors naturally have at
hand — timezone-aware datetimes (Airflow's data interval), epoch seconds (also as the numeric strings
that Jinja templates render), and ISO-8601 strings with an offset — and refuse what is ambiguous or
almost certainly a mistake: naive datetimes, strings without an offset, and epoch *milliseconds*.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime
from typing import Any

from airflow_flowrun.exceptions import InvalidParameterError

#: Epoch seconds reach 10**10 in the year 2286; a value this large is almost certainly milliseconds.
MAX_EPOCH_SECONDS = 10**10

_NUMERIC = re.compile(r"^[+-]?\d+(\.\d+)?$")


def validate_uuid(param: str, value: Any) -> str:
    """Return ``value`` as a canonical lower-case UUID string, or raise naming ``param``.

    Flow ids and run ids are UUIDs; checking locally turns a typo into a clear message instead of
    an Adobe 404 after a token exchange.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterError(param, value, "must be a UUID such as 'c1a19e2a-5ad6-4d2f-9b3a-6f1e0c7d2a01'")
    text = value.strip()
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        raise InvalidParameterError(param, value, "is not a UUID (expected 8-4-4-4-12 hex digits)") from None
    if len(text) != 36 or str(parsed) != text.lower():
        raise InvalidParameterError(param, value, "is not a UUID in the 8-4-4-4-12 hyphenated form")
    return text.lower()


def check_uuid_unless_templated(param: str, value: Any) -> None:
    """At DAG-parse time: check ``value`` as :func:`validate_uuid` does, unless it is a template.

    A template (or None, for an optional id) is checked once rendered, when the task runs.
    """
    if isinstance(value, str) and "{{" not in value:
        validate_uuid(param, value)


def to_epoch_seconds(param: str, value: Any) -> int:
    """Convert a time given by a DAG author to integer epoch seconds (floored), or raise naming ``param``.

    :param param: the parameter name used in error messages, e.g. ``"window_start"``
    :param value: an aware ``datetime``, epoch seconds as ``int``/``float``/numeric string, or an
        ISO-8601 string with an offset or ``Z``
    """
    if isinstance(value, bool) or value is None:
        raise InvalidParameterError(param, value, "must be a time (aware datetime, epoch seconds or ISO-8601)")
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidParameterError(
                param, value, "is a naive datetime; give a timezone, e.g. datetime(..., tzinfo=timezone.utc)"
            )
        return math.floor(value.timestamp())
    if isinstance(value, int | float):
        return _check_seconds(param, value)
    if isinstance(value, str):
        text = value.strip()
        if _NUMERIC.match(text):
            return _check_seconds(param, float(text) if "." in text else int(text), original=value)
        return _parse_iso(param, value, text)
    raise InvalidParameterError(
        param, value, f"has type {type(value).__name__}; expected datetime, epoch seconds or ISO-8601 string"
    )


def _check_seconds(param: str, seconds: float, original: Any = None) -> int:
    shown = seconds if original is None else original
    if isinstance(seconds, float) and not math.isfinite(seconds):
        raise InvalidParameterError(param, shown, "is not a finite number of epoch seconds")
    if seconds < 0:
        raise InvalidParameterError(param, shown, "is before 1970; epoch seconds must not be negative")
    if seconds >= MAX_EPOCH_SECONDS:
        raise InvalidParameterError(
            param, shown, "looks like epoch milliseconds; Flow Service takes epoch seconds (divide by 1000)"
        )
    return math.floor(seconds)


def _parse_iso(param: str, original: str, text: str) -> int:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameterError(
            param, original, "is not an ISO-8601 time such as '2026-11-28T00:00:00Z' nor epoch seconds"
        ) from None
    if parsed.tzinfo is None:
        raise InvalidParameterError(
            param, original, "has no UTC offset; add 'Z' or '+00:00' so the time is unambiguous"
        )
    return math.floor(parsed.timestamp())


def resolve_window(window_start: Any, window_end: Any) -> tuple[int, int]:
    """Both window bounds as epoch seconds; the window must not be empty or reversed."""
    start = to_epoch_seconds("window_start", window_start)
    end = to_epoch_seconds("window_end", window_end)
    if end <= start:
        what = "empty" if end == start else "reversed"
        raise InvalidParameterError(
            "window_end",
            window_end,
            f"the window is {what}: window_end ({end}) must be after window_start ({start}, {window_start!r})",
        )
    return start, end


def validate_positive(param: str, value: Any) -> float:
    """A positive, finite number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise InvalidParameterError(param, value, "must be a positive number of seconds")
    return float(value)
