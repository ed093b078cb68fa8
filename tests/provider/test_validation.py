"""Local checks: times, windows and ids are judged before any HTTP call, with messages naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from airflow_flowrun.exceptions import InvalidParameterError
from airflow_flowrun.validation import resolve_window, to_epoch_seconds, validate_uuid

NOV_28 = 1795824000  # 2026-11-28T00:00:00Z


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 28, tzinfo=UTC),
        datetime(2026, 11, 28, 1, tzinfo=timezone(timedelta(hours=1))),
        NOV_28,
        NOV_28 + 0.9,
        str(NOV_28),
        f"{NOV_28}.5",
        "2026-11-28T00:00:00Z",
        "2026-11-28T00:00:00.999+00:00",
        "2026-11-27T19:00:00-05:00",
    ],
)
def test_times_become_floored_epoch_seconds(value):
    assert to_epoch_seconds("window_start", value) == NOV_28


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (datetime(2026, 11, 28), "naive datetime"),
        ("2026-11-28T00:00:00", "no UTC offset"),
        (NOV_28 * 1000, "milliseconds"),
        (str(NOV_28 * 1000), "milliseconds"),
        (-5, "before 1970"),
        ("yesterday", "not an ISO-8601 time"),
        (True, "must be a time"),
        (None, "must be a time"),
        (float("nan"), "not a finite number"),
        ([NOV_28], "has type list"),
    ],
)
def test_bad_times_name_the_parameter_and_value(value, fragment):
    with pytest.raises(InvalidParameterError) as info:
        to_epoch_seconds("window_end", value)
    assert str(info.value).startswith(f"window_end={value!r}")
    assert fragment in str(info.value)


def test_reversed_window_is_refused_naming_both_bounds():
    with pytest.raises(InvalidParameterError, match=r"window_end=.*reversed.*window_start"):
        resolve_window(NOV_28, NOV_28 - 3600)


def test_empty_window_is_refused():
    with pytest.raises(InvalidParameterError, match="empty"):
        resolve_window("2026-11-28T00:00:00Z", NOV_28)


def test_window_mixes_accepted_forms():
    assert resolve_window(datetime(2026, 11, 28, tzinfo=UTC), "2026-11-29T00:00:00Z") == (NOV_28, NOV_28 + 86400)


@pytest.mark.parametrize(
    "value", ["", "not-a-uuid", "c1a19e2a5ad64d2f9b3a6f1e0c7d2a01", "{c1a19e2a-5ad6-4d2f-9b3a-6f1e0c7d2a01}", 42, None]
)
def test_malformed_ids_are_refused(value):
    with pytest.raises(InvalidParameterError, match="flow_id"):
        validate_uuid("flow_id", value)


def test_uuid_is_normalized_to_lower_case():
    assert validate_uuid("run_id", " C1A19E2A-5AD6-4D2F-9B3A-6F1E0C7D2A01 ") == "c1a19e2a-5ad6-4d2f-9b3a-6f1e0c7d2a01"
