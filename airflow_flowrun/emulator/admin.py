"""The admin API under ``/_emulator`` (no auth, not counted, never faulted).

It lets a benchmark or a user configure and inspect an emulator started from the CLI, from
another process. Errors answer ``{"detail": "..."}`` with 400 (bad input) or 404 (unknown flow).

==================================================  ==================================================
``GET /_emulator/health``                           ``{"status": "ok"}``
``GET /_emulator/stats``                            token/total/per-route request counts, faults, runs
``POST /_emulator/reset``                           back to the seeded state (settings included)
``DELETE /_emulator/tokens``                        invalidate every issued access token
``GET|POST|DELETE /_emulator/faults``               list / add (body: a rule) / remove fault rules
``GET /_emulator/flows``                            every flow's emulator settings and schedule
``PATCH /_emulator/flows/{flow_id}``                body ``{duration, outcome, fail_first, counts}``
``POST /_emulator/flows/{flow_id}/runs``            add a run "from elsewhere" (201, the run); body
                                                    ``{window_start, window_end, created_at, outcome,
                                                    duration, counts, sandbox, created_by}``
``PUT|DELETE /_emulator/flows/{flow_id}/schedule``  start (body ``{every, start, delay}``) / stop the
                                                    flow's own runs
``GET /_emulator/flows/{flow_id}/coverage``         ``?start=&end=``: the window coverage report
``GET|PUT /_emulator/settings``                     the settings; PUT changes the runtime ones
``GET /_emulator/windows/{flow_id}``                the flow's window report
``GET /_emulator/runs?flow_id=``                    ``{"items": [run, ...]}``, visible or not
``GET /_emulator/requests?limit=``                  the last logged requests (secrets redacted)
``GET /_emulator/expected-counts``                  ``?flow_id=&window_start=&window_end=[&outcome=]``
==================================================  ==================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from airflow_flowrun.emulator.state import EmulatorState

ADMIN_PREFIX = "/_emulator"


def _respond(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status, media_type="application/json")


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as error:
        raise HTTPException(400, f"invalid JSON body: {error}") from error
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return body


def _int_param(request: Request, name: str) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        raise HTTPException(400, f"query parameter {name} is required")
    try:
        return int(raw)
    except ValueError as error:
        raise HTTPException(400, f"query parameter {name} must be an integer, got {raw!r}") from error


#: The body keys of ``POST /_emulator/flows/{flow_id}/runs`` and ``PUT .../schedule``.
_ADD_RUN_KEYS = frozenset(
    {"window_start", "window_end", "created_at", "outcome", "duration", "counts", "sandbox", "created_by"}
)
_SCHEDULE_KEYS = frozenset({"every", "start", "delay"})


def _checked_keys(body: dict[str, Any], allowed: frozenset[str], what: str) -> dict[str, Any]:
    unknown = set(body) - allowed
    if unknown:
        raise HTTPException(400, f"unknown {what}: {sorted(unknown)} (allowed: {sorted(allowed)})")
    return body


def _flow_call(call: Callable[[], Any], status: int = 200) -> Response:
    """Answer ``call()``: 404 for an unknown flow (KeyError), 400 for bad input (ValueError, TypeError)."""
    try:
        return _respond(call(), status)
    except KeyError as error:
        raise HTTPException(404, str(error)) from error
    except (TypeError, ValueError) as error:
        raise HTTPException(400, str(error)) from error


def admin_router(state: EmulatorState) -> APIRouter:
    """The ``/_emulator`` routes over ``state``."""
    router = APIRouter(prefix=ADMIN_PREFIX, tags=["Emulator admin"])

    @router.get("/health")
    async def health() -> Response:
        return _respond({"status": "ok"})

    @router.get("/stats")
    async def stats() -> Response:
        return _respond(state.stats())

    @router.post("/reset")
    async def reset() -> Response:
        state.reset()
        return _respond({"status": "reset"})

    @router.delete("/tokens")
    async def revoke_tokens() -> Response:
        state.revoke_tokens()
        return _respond({"status": "revoked"})

    @router.get("/faults")
    async def list_faults() -> Response:
        return _respond({"items": state.fault_rules()})

    @router.post("/faults")
    async def add_fault(request: Request) -> Response:
        try:
            rule = state.add_fault(await _json_object(request))
        except ValueError as error:
            raise HTTPException(400, str(error)) from error
        return _respond(rule.to_dict(), 201)

    @router.delete("/faults")
    async def clear_faults() -> Response:
        state.clear_faults()
        return _respond({"items": []})

    @router.get("/flows")
    async def flow_settings() -> Response:
        return _respond({"items": state.all_flow_settings()})

    @router.patch("/flows/{flow_id}")
    async def configure_flow(flow_id: str, request: Request) -> Response:
        allowed = frozenset({"duration", "outcome", "fail_first", "counts"})
        changes = _checked_keys(await _json_object(request), allowed, "flow settings")
        return _flow_call(lambda: state.configure_flow(flow_id, **changes))

    @router.post("/flows/{flow_id}/runs")
    async def add_run(flow_id: str, request: Request) -> Response:
        fields = _checked_keys(await _json_object(request), _ADD_RUN_KEYS, "run fields")
        for required in ("window_start", "window_end"):
            if required not in fields:
                raise HTTPException(400, f"{required} is required")
        return _flow_call(lambda: state.add_run(flow_id, **fields), 201)

    @router.put("/flows/{flow_id}/schedule")
    async def schedule_flow(flow_id: str, request: Request) -> Response:
        fields = _checked_keys(await _json_object(request), _SCHEDULE_KEYS, "schedule fields")
        if "every" not in fields:
            raise HTTPException(400, "every is required")
        return _flow_call(lambda: state.schedule_flow(flow_id, **fields))

    @router.delete("/flows/{flow_id}/schedule")
    async def unschedule_flow(flow_id: str) -> Response:
        def unschedule() -> dict[str, Any]:
            state.unschedule_flow(flow_id)
            return {"flow_id": flow_id, "schedule": None}

        return _flow_call(unschedule)

    @router.get("/flows/{flow_id}/coverage")
    async def coverage(flow_id: str, request: Request) -> Response:
        start, end = _int_param(request, "start"), _int_param(request, "end")
        return _flow_call(lambda: state.window_coverage(flow_id, start, end))

    @router.get("/settings")
    async def get_settings() -> Response:
        return _respond(state.settings.to_dict())

    @router.put("/settings")
    async def put_settings(request: Request) -> Response:
        try:
            return _respond(state.update_settings(await _json_object(request)).to_dict())
        except (TypeError, ValueError) as error:
            raise HTTPException(400, str(error)) from error

    @router.get("/windows/{flow_id}")
    async def windows(flow_id: str) -> Response:
        return _flow_call(lambda: state.window_report(flow_id))

    @router.get("/runs")
    async def runs(request: Request) -> Response:
        return _respond({"items": state.run_views(request.query_params.get("flow_id"))})

    @router.get("/requests")
    async def requests(request: Request) -> Response:
        limit = _int_param(request, "limit") if "limit" in request.query_params else 100
        recorded = state.requests()[-limit:] if limit > 0 else []
        return _respond({"items": [entry.to_dict() for entry in recorded]})

    @router.get("/expected-counts")
    async def expected_counts(request: Request) -> Response:
        flow_id = request.query_params.get("flow_id", "")
        window = (_int_param(request, "window_start"), _int_param(request, "window_end"))
        return _flow_call(lambda: state.expected_counts(flow_id, *window, outcome=request.query_params.get("outcome")))

    return router
