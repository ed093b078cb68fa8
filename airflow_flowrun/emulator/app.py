"""The FastAPI app: the IMS token endpoint, the Flow Service routes and the admin API.

Routes take the raw :class:`~starlette.requests.Request` and answer pre-serialised JSON: no
pydantic models in the hot path, so a benchmark polling thousands of runs measures the client,
not the emulator.
"""

from __future__ import annotations

import json
from typing import Any, cast
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.types import Receive, Scope, Send

from airflow_flowrun.emulator.admin import admin_router
from airflow_flowrun.emulator.errors import ApiError, flow_error, ims_error, with_request_id
from airflow_flowrun.emulator.gateway import Caller
from airflow_flowrun.emulator.listing import ListQuery
from airflow_flowrun.emulator.middleware import CALLER_KEY, REQUEST_ID_KEY, SERVER_SEND_KEY, EmulatorMiddleware
from airflow_flowrun.emulator.seeds import FLOW_SERVICE_PREFIX, IMS_TOKEN_PATH
from airflow_flowrun.emulator.state import EmulatorState

#: Adobe's answer to a POST without a JSON ``Content-Type`` (Platform troubleshooting guide, verbatim).
CONTENT_TYPE_ERROR = {
    "type": "/placeholder/type/uri",
    "status": 400,
    "title": "BadRequestError",
    "detail": "A valid content-type must be specified",
}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON response."""
    payload = json.dumps(body, separators=(",", ":"))
    return Response(payload, status_code=status, media_type="application/json", headers=headers)


class EmulatorApp(FastAPI):
    """A FastAPI app that keeps the server's own ``send`` in the scope.

    Middleware wraps ``send``; the dropped-connection fault needs the unwrapped one to reach the
    socket (see :func:`~.middleware.drop_connection`).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[SERVER_SEND_KEY] = send
        await super().__call__(scope, receive, send)


def _query(request: Request, page_size: int) -> ListQuery:
    params = request.query_params
    if "count" in params and "limit" in params:
        raise flow_error("1401", 400, "The parameters limit and count cannot be used together.")
    try:
        return ListQuery.from_params(params.multi_items(), page_size)
    except ValueError as error:
        raise flow_error("1384", 400, str(error)) from error


def _ims_router(state: EmulatorState) -> APIRouter:
    router = APIRouter(tags=["IMS"])

    @router.post(IMS_TOKEN_PATH)
    async def ims_token(request: Request) -> Response:
        """OAuth server-to-server token (client credentials, form-encoded)."""
        form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True))
        fields = {**dict(request.query_params), **form}
        grant_type = fields.get("grant_type")
        if not grant_type:
            raise ims_error(400, "invalid_request", "grant_type parameter is missing")
        if grant_type != "client_credentials":
            raise ims_error(400, "unsupported_grant_type", f"unsupported grant_type {grant_type}")
        if not fields.get("client_id"):
            raise ims_error(400, "invalid_request", "client_id parameter is missing")
        settings = state.settings
        if fields["client_id"] != settings.client_id:
            raise ims_error(401, "invalid_client", "invalid client_id parameter")
        if fields.get("client_secret") != settings.client_secret:
            raise ims_error(401, "invalid_client", "invalid client_secret parameter")
        if not fields.get("scope", "").strip(" ,"):
            raise ims_error(400, "invalid_scope", "scope parameter is missing")
        token, lifetime = state.issue_token(fields["client_id"])
        expires_in = int(lifetime) if float(lifetime).is_integer() else lifetime
        return json_response({"access_token": token, "token_type": "bearer", "expires_in": expires_in})

    return router


def _flow_service_router(state: EmulatorState) -> APIRouter:
    router = APIRouter(prefix=FLOW_SERVICE_PREFIX, tags=["Flow Service"])

    @router.post("/runs")
    async def create_run(request: Request) -> Response:
        """Create an on-demand flow run (201); the body must be declared JSON."""
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise ApiError(400, CONTENT_TYPE_ERROR)
        try:
            body = json.loads(await request.body())
        except ValueError as error:
            raise flow_error("1384", 400, "The request body is not valid JSON.") from error
        caller: Caller = request.scope[CALLER_KEY]
        run = state.create_run(body, caller.sandbox, caller.client_id)
        shape = state.settings.create_run_response_shape
        reference = {"id": run["id"], "etag": run["etag"]}
        answer = {"items": [reference]} if shape == "items" else reference if shape == "bare" else run
        return json_response(answer, 201)

    @router.get("/runs")
    async def list_runs(request: Request) -> Response:
        """List runs: ``property`` filters, ``orderby``, ``limit``, ``continuationToken``."""
        return json_response(state.list_runs(_query(request, state.settings.page_size)))

    @router.get("/runs/{run_id}")
    async def get_run(run_id: str) -> Response:
        """One run, as ``{"items": [run]}``."""
        return json_response({"items": [state.get_run(run_id)]})

    @router.post("/runs/{run_id}/action")
    async def run_action(run_id: str, request: Request) -> Response:
        """``op=re-trigger`` (or ``RE_TRIGGER``): re-run a failed run over the same window."""
        caller: Caller = request.scope[CALLER_KEY]
        return json_response(state.retrigger(run_id, request.query_params.get("op"), caller.client_id))

    @router.get("/flows")
    async def list_flows(request: Request) -> Response:
        """List dataflows (filtered and paged like runs)."""
        return json_response(state.list_flows(_query(request, state.settings.page_size)))

    @router.get("/flows/{flow_id}")
    async def get_flow(flow_id: str) -> Response:
        """One dataflow, as ``{"items": [flow]}``."""
        return json_response({"items": [state.get_flow(flow_id)]})

    @router.get("/sourceConnections/{connection_id}")
    async def get_source_connection(connection_id: str) -> Response:
        """A flow's source connection (what it reads), as ``{"items": [connection]}``."""
        return json_response({"items": [state.get_flow_connection("source", connection_id)]})

    @router.get("/targetConnections/{connection_id}")
    async def get_target_connection(connection_id: str) -> Response:
        """A flow's target connection (the dataset it writes), as ``{"items": [connection]}``."""
        return json_response({"items": [state.get_flow_connection("target", connection_id)]})

    @router.api_route("/{resource:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def unknown_resource(resource: str, request: Request) -> Response:
        """Anything else under the Flow Service base path."""
        raise flow_error("1439", 404, f"Resource {request.method} /{resource} not found.")

    return router


def create_app(state: EmulatorState) -> FastAPI:
    """Build the emulator app around ``state``.

    :param state: the world the app serves and records into (also ``app.state.emulator``).
    """
    app = EmulatorApp(
        title="Adobe IMS + Flow Service emulator",
        description="Local stand-in for Adobe IMS and Experience Platform Flow Service (airflow_flowrun).",
    )
    app.state.emulator = state

    async def api_error_handler(request: Request, error: Exception) -> Response:
        api_error = cast(ApiError, error)
        body = with_request_id(api_error.body, request.scope.get(REQUEST_ID_KEY, ""))
        return json_response(body, api_error.status, api_error.headers)

    app.add_exception_handler(ApiError, api_error_handler)
    app.add_middleware(EmulatorMiddleware, state=state)
    app.include_router(_ims_router(state))
    app.include_router(_flow_service_router(state))
    app.include_router(admin_router(state))
    return app
