"""Error bodies in the three shapes Adobe uses: Flow Service, the API gateway and IMS.

The state and the routes raise :class:`ApiError`; the app turns it into a JSON response carrying
an ``x-request-id`` header whose value also appears in the Flow Service body's ``report``.
"""

from __future__ import annotations

from typing import Any

FLOW_ERROR_TYPE = "https://ns.adobe.com/aep/errors/FLOW-{code}-{status}"

FLOW_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

#: Flow Service codes for server-side failures (FLOW-<code>-<status>), from Adobe's error table.
FLOW_SERVER_CODES = {500: "1102", 503: "1103", 504: "1104"}


class ApiError(Exception):
    """An API answer other than success, with its HTTP status and JSON body.

    :param status: HTTP status code.
    :param body: JSON-ready body; for Flow Service errors the ``report.request-id`` is filled in
        when the response is sent.
    :param headers: extra response headers (e.g. ``Retry-After``).
    """

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def flow_error_body(code: str, status: int, message: str, request_id: str = "") -> dict[str, Any]:
    """A Flow Service error body: ``type`` names ``FLOW-<code>-<status>``.

    :param code: the four-digit code, e.g. ``"1383"``.
    :param status: HTTP status.
    :param message: what went wrong, for a human.
    :param request_id: the request id echoed in ``report``.
    """
    return {
        "type": FLOW_ERROR_TYPE.format(code=code, status=status),
        "title": FLOW_TITLES.get(status, "Error"),
        "status": status,
        "report": {"detailed-message": message, "request-id": request_id},
        "errorMessage": message,
        "errorDetails": message,
    }


def flow_error(code: str, status: int, message: str) -> ApiError:
    """An :class:`ApiError` carrying a Flow Service error body (``FLOW-<code>-<status>``)."""
    return ApiError(status, flow_error_body(code, status, message))


def gateway_error(error_code: str, message: str) -> ApiError:
    """An API gateway rejection: ``{"error_code", "message"}``, status = first three digits."""
    return ApiError(int(error_code[:3]), {"error_code": error_code, "message": message})


def ims_error(status: int, error: str, description: str) -> ApiError:
    """An IMS token endpoint error: ``{"error", "error_description"}``."""
    return ApiError(status, {"error": error, "error_description": description})


def with_request_id(body: dict[str, Any], request_id: str) -> dict[str, Any]:
    """Fill the request id into a Flow Service error body's ``report`` (other shapes unchanged)."""
    report = body.get("report")
    if isinstance(report, dict) and not report.get("request-id"):
        return {**body, "report": {**report, "request-id": request_id}}
    return body
