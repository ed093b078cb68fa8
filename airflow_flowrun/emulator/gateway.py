"""The Platform API gateway's checks on every Flow Service request, in Adobe's order.

1. no ``Authorization`` header → 403 ``403010``;
2. not a bearer token, or a token unknown or expired → 401 ``401013``;
3. no ``x-api-key`` → 403 ``403000``; not the (configured) client id → 403 ``403003``;
4. no ``x-gw-ims-org-id`` → 400 ``400003``; another org than :data:`~.seeds.ORG_ID` → 403
   ``403025`` ("Profile is not valid": the credential may not call APIs for that org, per
   Adobe's Platform troubleshooting guide);
5. no ``x-sandbox-name`` → ``FLOW-2105-400``; a sandbox not in the ``sandboxes`` setting
   (default ``prod``, ``dev``) → ``FLOW-2100-404``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from airflow_flowrun.emulator.errors import ApiError, flow_error, gateway_error
from airflow_flowrun.emulator.seeds import ORG_ID
from airflow_flowrun.emulator.state import EmulatorState


def invalid_token_error() -> ApiError:
    """The gateway's 401 ``401013`` for a token it does not accept."""
    return gateway_error("401013", "Oauth token is not valid")


@dataclass(frozen=True)
class Caller:
    """Who a request that passed the gateway comes from.

    :param sandbox: the sandbox named by ``x-sandbox-name``.
    :param client_id: the client the access token was issued to.
    """

    sandbox: str
    client_id: str


def check_gateway(headers: Mapping[str, str], state: EmulatorState) -> Caller:
    """Apply the gateway checks to lower-cased request headers.

    :raises ApiError: the first check that fails.
    """
    authorization = headers.get("authorization", "").strip()
    if not authorization:
        raise gateway_error("403010", "Oauth token is missing.")
    scheme, _, token = authorization.partition(" ")
    client_id = state.tokens.client_of(token.strip()) if scheme.lower() == "bearer" else None
    if client_id is None:
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
        raise gateway_error("403025", "Profile is not valid")
    sandbox = headers.get("x-sandbox-name", "")
    if not sandbox:
        raise flow_error("2105", 400, "Missing required header x-sandbox-name.")
    if sandbox not in state.settings.sandboxes:
        raise flow_error("2100", 404, f"Sandbox {sandbox} not found.")
    return Caller(sandbox, client_id)
