"""The Platform API gateway's checks on every Flow Service request, in Adobe's order.

1. no ``Authorization`` header → 403 ``403010``;
2. not a bearer token, or a token unknown or expired → 401 ``401013``;
3. no ``x-api-key`` → 403 ``403000``; not the (configured) client id → 403 ``403003``;
4. no ``x-gw-ims-org-id`` → 400 ``400003``; another org than :data:`~.seeds.ORG_ID` →
   ``FLOW-2000-401``;
5. no ``x-sandbox-name`` → ``FLOW-2105-400``; a sandbox not in the ``sandboxes`` setting
   (default ``prod``, ``dev``) → ``FLOW-2100-404``.
"""

from __future__ import annotations

from collections.abc import Mapping

from airflow_flowrun.emulator.errors import ApiError, flow_error, gateway_error
from airflow_flowrun.emulator.seeds import ORG_ID
from airflow_flowrun.emulator.state import EmulatorState


def invalid_token_error() -> ApiError:
    """The gateway's 401 ``401013`` for a token it does not accept."""
    return gateway_error("401013", "Oauth token is not valid")


def check_gateway(headers: Mapping[str, str], state: EmulatorState) -> str:
    """Apply the gateway checks to lower-cased request headers; return the sandbox name.

    :raises ApiError: the first check that fails.
    """
    authorization = headers.get("authorization", "").strip()
    if not authorization:
        raise gateway_error("403010", "Oauth token is missing.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not state.tokens.valid(token.strip()):
        raise invalid_token_error()
    api_key = headers.get("x-api-key", "")
    if not api_key:
        raise gateway_error("403000", "Api Key is required")
    if api_key != state.settings.client_id:
        raise gateway_error("403003", "Api Key is invalid")
    org_id = headers.get("x-gw-ims-org-id", "")
    if not org_id:
        raise gateway_error("400003", "Missing required header x-gw-ims-org-id")
    if org_id != ORG_ID:
        raise flow_error("2000", 401, f"The access token is not valid for IMS org {org_id}.")
    sandbox = headers.get("x-sandbox-name", "")
    if not sandbox:
        raise flow_error("2105", 400, "Missing required header x-sandbox-name.")
    if sandbox not in state.settings.sandboxes:
        raise flow_error("2100", 404, f"Sandbox {sandbox} not found.")
    return sandbox
