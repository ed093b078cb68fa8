"""The admin API under ``/_emulator`` (no auth, not counted, never faulted).

It lets a benchmark or a user configure and inspect an emulator started from the CLI, from
another process. Errors answer ``{"detail": "..."}`` with 400 (bad input) or 404 (unknown flow).

=========================================  =====================================================
``GET /_emulator/health``                  ``{"status": "ok"}``
``GET /_emulator/stats``                   token/total/per-route request counts, faults, runs
``POST /_emulator/reset``                  back to the seeded state (settings included)
``DELETE /_emulator/tokens``               invalidate every issued access token
``GET|POST|DELETE /_emulator/faults``      list / add (body: a rule) / remove fault rules
``GET /_emulator/flows``                   every flow's emulator settings
``PATCH /_emulator/flows/{flow_id}``       body ``{duration, outcome, fail_first}``
``GET|PUT /_emulator/settings``            ``run_duration``, ``token_lifetime``,
                                           ``visibility_delay``, ``create_run_response_shape``
``GET /_emulator/windows/{flow_id}``       the flow's window report
``GET /_emulator/runs?flow_id=``           ``{"items": [run, ...]}``, visible or not
``GET /_emulator/requests?limit=``         the last logged requests (secrets redacted)
``GET /_emulator/expected-counts``         ``?flow_id=&window_start=&window_end=[&outcome=]``
=========================================  =====================================================
"""

from __future__ import annotations

import json
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
        changes = await _json_object(request)
        unknown = set(changes) - {"duration", "outcome", "fail_first"}
        if unknown:
            raise HTTPException(400, f"unknown flow settings: {sorted(unknown)}")
        try:
            return _respond(state.configure_flow(flow_id, **changes))
        except KeyError as error:
            raise HTTPException(404, str(error)) from error
        except (TypeError, ValueError) as error:
            raise HTTPException(400, str(error)) from error

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
        try:
            return _respond(state.window_report(flow_id))
        except KeyError as error:
            raise HTTPException(404, str(error)) from error

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
        try:
            return _respond(state.expected_counts(flow_id, *window, outcome=request.query_params.get("outcome")))
        except KeyError as error:
            raise HTTPException(404, str(error)) from error
        except ValueError as error:
            raise HTTPException(400, str(error)) from error

    return router
