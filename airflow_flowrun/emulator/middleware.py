"""The ASGI layer in front of the routes: counting, faults, gateway checks and the request log.

For IMS and Flow Service paths, in this order: count and log the request as it arrives, apply the
chosen fault (if any), check the gateway headers (Flow Service only), call the route, complete the
log entry with the answer's status, headers and time. Every answer carries an ``x-request-id``
header. Other paths (admin, docs) pass straight through.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_flowrun.emulator.errors import (
    FLOW_SERVER_CODES,
    FLOW_TITLES,
    ApiError,
    flow_error,
    gateway_error,
    ims_error,
    with_request_id,
)
from airflow_flowrun.emulator.faults import FaultRule
from airflow_flowrun.emulator.gateway import check_gateway, invalid_token_error
from airflow_flowrun.emulator.requestlog import RecordedRequest, parse_body, redact_headers, redact_query
from airflow_flowrun.emulator.seeds import FLOW_SERVICE_PREFIX, IMS_TOKEN_PATH
from airflow_flowrun.emulator.state import EmulatorState

#: Scope key holding the server's own ``send`` callable, captured before any middleware wraps it.
SERVER_SEND_KEY = "emulator.server_send"
REQUEST_ID_KEY = "emulator.request_id"
CALLER_KEY = "emulator.caller"


def fault_error(rule: FaultRule, path: str) -> ApiError:
    """The answer of a ``status`` fault, shaped like the service the path belongs to."""
    status, title = rule.status, FLOW_TITLES.get(rule.status, "Error")
    if path == IMS_TOKEN_PATH:
        error = ims_error(status, "server_error" if status >= 500 else "temporarily_unavailable", title)
    elif status in FLOW_SERVER_CODES:
        error = flow_error(FLOW_SERVER_CODES[status], status, f"{title} (injected fault).")
    else:
        error = gateway_error(f"{status}001" if status == 429 else f"{status}000", title)
    if rule.retry_after is not None:
        seconds = rule.retry_after
        error.headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    return error


async def send_json(send: Send, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    """Send a complete JSON response."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


async def send_api_error(send: Send, error: ApiError, request_id: str) -> None:
    """Send an :class:`ApiError`, its Flow Service body tagged with the request id."""
    await send_json(send, error.status, with_request_id(error.body, request_id), error.headers)


async def drop_connection(scope: Scope, send: Send) -> None:
    """Close the client connection without any HTTP response.

    Under uvicorn the server's ``send`` is bound to the request cycle, which holds the socket's
    transport: closing it makes the client see the peer hang up. Another server gets a response
    head promising a body that never comes, then the connection ends when the app returns.
    """
    cycle = getattr(scope.get(SERVER_SEND_KEY), "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"65536")]})
        await send({"type": "http.response.body", "body": b"{", "more_body": True})
        return
    transport.close()
    for _ in range(200):
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0.001)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class EmulatorMiddleware:
    """Pure ASGI middleware (cheap per request: no request/response objects are built).

    :param app: the routes.
    :param state: the emulator state.
    """

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path.startswith(FLOW_SERVICE_PREFIX) or path.startswith(IMS_TOKEN_PATH)):
            await self.app(scope, receive, send)
            return
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")
            scope = {**scope, "path": path, "raw_path": path.encode()}
        request_id = uuid.uuid4().hex
        scope[REQUEST_ID_KEY] = request_id
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        body = await _read_body(receive)
        query, params = redact_query(scope.get("query_string", b"").decode("latin-1"))
        recorded = RecordedRequest(
            method=scope["method"],
            path=path,
            query=query,
            params=params,
            headers=redact_headers(headers),
            body=parse_body(body, headers.get("content-type", "")),
            status=None,
            timestamp=time.time(),
        )
        fault = self.state.arrive(recorded)
        start = await self._answer(scope, receive, send, body, headers, fault)
        if start is None:
            self.state.answered(recorded, None, None, time.time())
        else:
            self.state.answered(recorded, start["status"], start.get("headers", []), time.time())

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes,
        headers: dict[str, str],
        fault: FaultRule | None,
    ) -> Message | None:
        """Answer the request; return the response start sent (None when the connection was dropped)."""
        request_id = scope[REQUEST_ID_KEY]
        answered: dict[str, Message] = {}
        swallowing = False
        held: list[Message] | None = [] if fault is not None and fault.kind == "commit_then_delay" else None

        async def tagged_send(message: Message) -> None:
            if swallowing:
                return
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
                answered["start"] = message
            if held is not None:
                held.append(message)
                return
            await send(message)

        async def answer_error(error: ApiError) -> Message | None:
            await send_api_error(tagged_send, error, request_id)
            return answered.get("start")

        if fault is not None:
            if fault.kind == "drop":
                await drop_connection(scope, send)
                return None
            if fault.kind == "status":
                return await answer_error(fault_error(fault, scope["path"]))
            if fault.kind == "reject_tokens":
                return await answer_error(invalid_token_error())
            if fault.kind == "latency":
                await asyncio.sleep(fault.delay)
        swallowing = fault is not None and fault.kind == "commit_then_502"
        rejection: ApiError | None = None
        if scope["path"].startswith(FLOW_SERVICE_PREFIX):
            try:
                scope[CALLER_KEY] = check_gateway(headers, self.state)
            except ApiError as error:
                rejection = error
        if rejection is not None:
            await send_api_error(tagged_send, rejection, request_id)
        else:
            await self.app(scope, _replay(body, receive), tagged_send)
        if swallowing:
            swallowing = False
            return await answer_error(gateway_error("502000", "Bad Gateway"))
        if held is not None and fault is not None:
            await asyncio.sleep(fault.delay)
            for message in held:
                await send(message)
        return answered.get("start")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the already-read body, then defers to the server's."""
    body_sent = False

    async def replay_receive() -> Message:
        nonlocal body_sent
        if body_sent:
            return await receive()
        body_sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay_receive
