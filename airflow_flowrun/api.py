"""Flow Service requests and answers as data: paths, bodies, query parameters and answer parsing.

Both hooks import these, so the sync and async paths send the same requests and read answers the
same way; only the I/O differs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_flowrun.exceptions import FlowServiceError, FlowServiceFatalError, InvalidParameterError
from airflow_flowrun.retry import is_fatal_status, parse_retry_after
from airflow_flowrun.validation import resolve_window, to_epoch_seconds, validate_uuid

RUNS = "/runs"
#: Flow Service pages hold at most 100 runs, and an any-of filter reads at most this many ids at once.
MAX_PAGE = 100
#: Our clock and Flow Service's may differ this much: every comparison of our times with a run's
#: ``createdAt`` (the window lookups of the hook and of a later try) starts this much earlier.
CLOCK_SKEW_MS = 30_000


def run_path(run_id: str) -> str:
    return f"{RUNS}/{validate_uuid('run_id', run_id)}"


def flow_path(flow_id: str) -> str:
    return f"/flows/{validate_uuid('flow_id', flow_id)}"


def build_run_body(
    flow_id: str,
    *,
    window_start: Any,
    window_end: Any,
    start_time: Any = None,
    delta_column: str | None = None,
) -> dict[str, Any]:
    """The ``POST /runs`` body, every value checked locally first.

    :param start_time: when the run should start; None means now
    :param delta_column: table-based sources only; required on a flow's first run
    """
    flow_id = validate_uuid("flow_id", flow_id)
    start, end = resolve_window(window_start, window_end)
    begin = int(time.time()) if start_time is None else to_epoch_seconds("start_time", start_time)
    params: dict[str, Any] = {"startTime": begin, "windowStartTime": start, "windowEndTime": end}
    if delta_column is not None:
        if not isinstance(delta_column, str) or not delta_column.strip() or delta_column != delta_column.strip():
            raise InvalidParameterError("delta_column", delta_column, "must be a column name without spaces around it")
        params["deltaColumn"] = {"name": delta_column}
    return {"flowId": flow_id, "params": params}


def parse_created_run(body: Any, *, status: int | None = None, url: str | None = None) -> dict[str, Any]:
    """``{"id", "etag"}`` from any of the three documented ``POST /runs`` answers.

    The tutorial shows ``{"items": [{"id", "etag"}]}``, the OpenAPI spec a bare ``{"id", "etag"}``,
    an older draft the whole run object.

    :param status: the answer's HTTP status, carried by the error: a 2xx without a run id may
        still have created a run
    :param url: the URL the body came from, for the error
    """
    candidate = body
    if isinstance(body, dict) and isinstance(body.get("items"), list) and body["items"]:
        candidate = body["items"][0]
    if not isinstance(candidate, dict) or not isinstance(candidate.get("id"), str):
        raise FlowServiceError(
            f"POST /runs answered without a run id: {json.dumps(body)[:300]}", status=status, method="POST", url=url
        )
    return {"id": candidate["id"], "etag": candidate.get("etag")}


def first_item(body: Any, what: str) -> dict[str, Any]:
    """The object of a ``{"items": [obj]}`` answer (``GET /runs/{id}``, ``GET /flows/{id}``)."""
    items = body.get("items") if isinstance(body, dict) else None
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return items[0]
    if isinstance(body, dict) and "id" in body:
        return body
    raise FlowServiceError(f"{what} answered without items: {json.dumps(body)[:300]}")


def page_items(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The items of a list page and the href of the next page (None on the last page)."""
    items = body.get("items") if isinstance(body, dict) else None
    links = (body.get("_links") or {}) if isinstance(body, dict) else {}
    next_href = (links.get("next") or {}).get("href") if isinstance(links, dict) else None
    return (items if isinstance(items, list) else []), (next_href or None)


def list_runs_params(
    flow_id: str, *, properties: Sequence[str], orderby: str, filters: Mapping[str, Any]
) -> dict[str, Any]:
    """Query of ``GET /runs`` for the runs of ``flow_id`` (see the hooks' ``list_runs``)."""
    expressions = [f"flowId=={validate_uuid('flow_id', flow_id)}", *properties]
    for field_name, value in filters.items():
        values = value if isinstance(value, list | tuple) else [value]
        expressions.append(f"{field_name}=={','.join(map(str, values))}")
    return {"property": expressions, "orderby": orderby, "limit": MAX_PAGE}


def any_of_ids_params(run_ids: list[str]) -> dict[str, Any]:
    """Query of ``GET /runs`` reading several runs in one call (Adobe's ``==a,b,c`` any-of filter)."""
    if len(run_ids) > MAX_PAGE:
        raise ValueError(f"at most {MAX_PAGE} run ids per call, got {len(run_ids)}")
    return {"property": "id==" + ",".join(run_ids), "limit": MAX_PAGE}


def window_lookup_params(flow_id: str, created_after_ms: int) -> dict[str, Any]:
    """Query of a flow's runs created since ``created_after_ms``, newest first.

    The window is matched on our side (:func:`matches_window`): filtering on ``params.*`` is not
    documented, filtering on ``flowId`` and ``createdAt`` is.
    """
    return {
        "property": [f"flowId=={flow_id}", f"createdAt>{created_after_ms}"],
        "orderby": "-createdAt",
        "limit": MAX_PAGE,
    }


def matches_window(run: dict[str, Any], window_start: int, window_end: int, created_after_ms: int = 0) -> bool:
    """True when a run object was created for exactly this data window (after ``created_after_ms``).

    The creation time is checked here too, not only in the query: a service that ignored the
    ``createdAt`` filter must not make a run of another DAG run's (or another day's) ingestion of
    the same window look like ours. A run without a readable ``createdAt`` is judged by the window.
    """
    params = run.get("params") or {}
    try:
        start, end = int(params["windowStartTime"]), int(params["windowEndTime"])
    except (KeyError, TypeError, ValueError):
        return False
    if start != window_start or end != window_end:
        return False
    try:
        return int(run["createdAt"]) > created_after_ms
    except (KeyError, TypeError, ValueError):
        return True


def created_before(run: dict[str, Any], created_after_ms: int) -> bool:
    """True when a run's ``createdAt`` is readable and not after ``created_after_ms``.

    Listings ordered ``-createdAt`` hold only older runs past the first such run, so a window
    lookup stops paging there.
    """
    try:
        return int(run["createdAt"]) <= created_after_ms
    except (KeyError, TypeError, ValueError):
        return False


def json_answer(body: bytes, status: int, *, method: str, url: str) -> Any:
    """A 2xx answer's JSON (``{}`` when empty).

    :raises FlowServiceError: naming the call and the first bytes of a body that is not JSON
        (a proxy's HTML page, an answer cut short); retryable, as is "no answer"
    """
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except ValueError:
        raise FlowServiceError(
            f"answered with a body that is not JSON: {body[:200]!r}", status=status, method=method, url=url
        ) from None


def read_answer(status: int, body: bytes, headers: Any, *, method: str, url: str) -> Any:
    """What a call answered: the JSON of a 2xx (see :func:`json_answer`), else the error (:func:`error_from_answer`)."""
    if 200 <= status < 300:
        return json_answer(body, status, method=method, url=url)
    raise error_from_answer(status, body.decode(errors="replace"), headers, method=method, url=url)


def no_answer(error: BaseException, *, method: str, url: str) -> FlowServiceError:
    """The error for a call that got no (complete) answer: refused, timed out, or cut mid-answer."""
    detail = str(error)[:200]
    reason = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
    return FlowServiceError(f"no answer ({reason})", method=method, url=url)


#: Adobe codes of a refused org (gateway ``400003``: header missing, ``403025``: the credential may not call
#: that org; Flow Service: token not valid for the org).
ORG_CODES = frozenset({"400003", "403025", "FLOW-2000-401", "FLOW-2001-401"})
#: Flow Service codes of a refused sandbox (header missing, sandbox not found).
SANDBOX_CODES = frozenset({"FLOW-2105-400", "FLOW-2100-404"})
#: Gateway codes of refused credentials (no token, token not valid, API key missing or wrong).
CREDENTIAL_CODES = frozenset({"403010", "401013", "403000", "403003"})


def failed_step(error: FlowServiceError) -> str:
    """Which part of a connection a gateway answer faults: ``token``, ``org``, ``sandbox`` or ``gateway``.

    Read from Adobe's codes (see ``flow-service-api.md``); a 401 without a known code is the token,
    no answer and anything else the gateway itself.
    """
    if error.code in ORG_CODES:
        return "org"
    if error.code in SANDBOX_CODES:
        return "sandbox"
    if error.code in CREDENTIAL_CODES or (error.status == 401 and not error.code):
        return "token"
    return "gateway"


def error_from_answer(status: int, text: str, headers: Any, *, method: str, url: str) -> FlowServiceError:
    """The exception for a non-2xx answer of IMS, the Platform gateway or Flow Service.

    Reads the three error shapes (Flow Service ``type``/``report``, gateway ``error_code``, IMS
    ``error``); answers no retry can change (see :func:`~airflow_flowrun.retry.is_fatal_status`:
    4xx other than 408 and 429) become :class:`FlowServiceFatalError`.
    """
    try:
        body = json.loads(text) if text else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    report: dict[str, Any] = body["report"] if isinstance(body.get("report"), dict) else {}
    code = None
    if isinstance(body.get("type"), str) and "/" in body["type"]:
        code = body["type"].rsplit("/", 1)[-1]
    code = code or body.get("error_code") or body.get("code") or body.get("error")
    message = (
        report.get("detailed-message")
        or body.get("errorMessage")
        or body.get("message")
        or body.get("error_description")
        or body.get("title")
        or (text[:300] if text else f"HTTP {status}")
    )
    request_id = (headers.get("x-request-id") if headers else None) or report.get("request-id")
    retry_after = parse_retry_after(headers.get("Retry-After") if headers else None)
    cls = FlowServiceFatalError if is_fatal_status(status) else FlowServiceError
    return cls(
        str(message),
        status=status,
        code=str(code) if code is not None else None,
        request_id=request_id,
        method=method,
        url=url,
        retry_after=retry_after,
    )
