"""What the emulator has seen: a bounded log of requests, secrets redacted, and exact counters.

A request is logged the moment it arrives (so a test sees it while it is in flight) and
completed in place once answered: status, response headers (secrets redacted) and timing. The log
keeps the last ``size`` requests (older ones drop out, so long benchmarks stay in bounded memory);
the counters (total, per route, token requests) count every request ever received since the last
reset. Admin (``/_emulator``) requests are neither logged nor counted.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from airflow_flowrun.emulator.seeds import FLOW_SERVICE_PREFIX, IMS_TOKEN_PATH

REDACTED = "***"
#: Body / query keys whose values never reach the log.
SECRET_KEYS = frozenset({"client_secret", "password", "access_token", "refresh_token"})
_RUN_ID_PATH = re.compile(r"/runs/[^/]+")
_RUN_ACTION_PATH = re.compile(r"/runs/[^/]+/action")
_FLOW_ID_PATH = re.compile(r"/flows/[^/]+")


@dataclass
class RecordedRequest:
    """One request as received, secrets redacted, and its answer once there is one.

    :param method: HTTP method.
    :param path: URL path.
    :param query: raw query string (secret params redacted).
    :param params: query parameters as (name, value) pairs (secret params redacted).
    :param headers: lower-cased request header names; ``authorization`` keeps only its scheme.
    :param body: parsed JSON or form body (secret fields redacted), raw text otherwise, or None.
    :param status: HTTP status answered; None while in flight and when the connection was dropped.
    :param timestamp: epoch seconds when the request arrived.
    :param fault: kind of the fault injected into this request, if any.
    :param answered_at: epoch seconds when the answer was sent (or the connection dropped);
        None while in flight.
    :param response_headers: lower-cased answer header names (secrets redacted); None until
        answered or when dropped.
    """

    method: str
    path: str
    query: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any
    status: int | None
    timestamp: float
    fault: str | None = None
    answered_at: float | None = None
    response_headers: dict[str, str] | None = None

    @property
    def in_flight(self) -> bool:
        """Whether the request still waits for its answer."""
        return self.answered_at is None

    @property
    def duration(self) -> float | None:
        """Seconds from arrival to answer; None while in flight."""
        return None if self.answered_at is None else self.answered_at - self.timestamp

    def answer(self, status: int | None, headers: Iterable[tuple[bytes, bytes]] | None, at: float) -> None:
        """Complete the entry: the status and raw headers sent (None for a dropped connection)."""
        self.status = status
        self.answered_at = at
        if headers is not None:
            self.response_headers = redact_headers(
                {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in headers}
            )

    def snapshot(self) -> RecordedRequest:
        """A copy that no later answer changes."""
        return dataclasses.replace(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "params": [list(pair) for pair in self.params],
            "headers": self.headers,
            "body": self.body,
            "status": self.status,
            "timestamp": self.timestamp,
            "fault": self.fault,
            "answered_at": self.answered_at,
            "duration": self.duration,
            "response_headers": self.response_headers,
        }


def route_label(method: str, path: str) -> str:
    """The route a request hits, with ids replaced by placeholders (e.g. ``GET /runs/{runId}``)."""
    if path == IMS_TOKEN_PATH:
        return f"{method} {IMS_TOKEN_PATH}"
    if not path.startswith(FLOW_SERVICE_PREFIX):
        return f"{method} other"
    route = path[len(FLOW_SERVICE_PREFIX) :] or "/"
    if route in ("/runs", "/flows"):
        return f"{method} {route}"
    if _RUN_ACTION_PATH.fullmatch(route):
        return f"{method} /runs/{{runId}}/action"
    if _RUN_ID_PATH.fullmatch(route):
        return f"{method} /runs/{{runId}}"
    if _FLOW_ID_PATH.fullmatch(route):
        return f"{method} /flows/{{flowId}}"
    return f"{method} other"


def redact(value: Any) -> Any:
    """Replace the values of secret keys, recursively through dicts and lists."""
    if isinstance(value, dict):
        return {key: REDACTED if key in SECRET_KEYS else redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of lower-cased headers where ``authorization`` keeps its scheme only (``Bearer ***``)."""
    result = dict(headers)
    for name in ("authorization", "proxy-authorization"):
        if name in result:
            scheme = result[name].split(" ", 1)[0] if " " in result[name] else ""
            result[name] = f"{scheme} {REDACTED}".strip()
    for name in ("cookie", "set-cookie"):
        if name in result:
            result[name] = REDACTED
    return result


def redact_query(query: str) -> tuple[str, list[tuple[str, str]]]:
    """The redacted raw query string and its parameter pairs."""
    params = parse_qsl(query, keep_blank_values=True)
    if any(name in SECRET_KEYS for name, _ in params):
        params = [(name, REDACTED if name in SECRET_KEYS else value) for name, value in params]
        return urlencode(params), params
    return query, params


def parse_body(body: bytes, content_type: str) -> Any:
    """Parse a request body for the log: JSON or form fields (secrets redacted), else text."""
    if not body:
        return None
    text = body.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return redact(json.loads(text))
        except ValueError:
            return text
    if "x-www-form-urlencoded" in content_type:
        return redact(dict(parse_qsl(text, keep_blank_values=True)))
    return text


@dataclass
class RequestLog:
    """The bounded request log and its exact counters. Not thread-safe: the state locks it."""

    size: int = 10_000
    entries: deque[RecordedRequest] = field(init=False)
    total: int = 0
    token_requests: int = 0
    by_route: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.entries = deque(maxlen=self.size)

    def count(self, method: str, path: str) -> None:
        """Count a request when it arrives (before any fault or rejection)."""
        self.total += 1
        label = route_label(method, path)
        self.by_route[label] += 1
        if path == IMS_TOKEN_PATH:
            self.token_requests += 1

    def append(self, request: RecordedRequest) -> None:
        """Log a request as it arrives (its answer completes the same entry)."""
        self.entries.append(request)

    def clear(self) -> None:
        """Forget everything (counters included)."""
        self.entries.clear()
        self.total = 0
        self.token_requests = 0
        self.by_route.clear()
