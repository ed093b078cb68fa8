"""The UI's Test button: prove credentials, org, sandbox and gateway within seconds, naming what failed.

A Test that retries for minutes against an unreachable host looks like a hung UI, so the probe makes
each request once, with a short timeout, and says which step failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_flowrun import api
from airflow_flowrun.auth import remember_token
from airflow_flowrun.exceptions import FlowServiceError, InvalidParameterError

if TYPE_CHECKING:
    from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

#: The Test waits at most this long per request, whatever the connection's timeout.
TEST_TIMEOUT = 5.0


def probe_connection(hook: AdobeFlowServiceHook) -> tuple[bool, str]:
    """Fetch a token from IMS, then read one flow (``GET /flows?limit=1``), each once.

    :return: ``(True, ...)``, or ``(False, message)`` where the message starts with the step that
        failed: ``connection`` (a field), ``token`` (IMS unreachable, or the credentials refused),
        ``org``, ``sandbox`` or ``gateway`` (Flow Service unreachable or refusing). It never holds
        the client secret.
    """
    try:
        settings = hook.settings
    except InvalidParameterError as err:
        return False, f"connection: {err}"
    timeout = min(TEST_TIMEOUT, settings.timeout)
    try:
        remember_token(settings.token_cache_key, *hook._fetch_token(timeout))
    except FlowServiceError as err:
        return False, f"token: IMS gave no access token (unreachable, or the credentials were refused): {err}"
    try:
        hook._request_json("GET", settings.flow_service_url + "/flows", params={"limit": 1}, timeout=timeout)
    except FlowServiceError as err:
        step = api.failed_step(err)
        hint = {
            "token": "the gateway refused the credentials",
            "org": f"the gateway refused org {settings.org_id}",
            "sandbox": f"sandbox {settings.sandbox_name!r} was refused",
            "gateway": f"Flow Service at {settings.flow_service_url} is unreachable or refused the call",
        }[step]
        return False, f"{step}: {hint}: {err}"
    return True, f"Connected to Flow Service: org {settings.org_id}, sandbox {settings.sandbox_name}"
