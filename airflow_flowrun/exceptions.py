"""Errors raised by the provider.

Two families matter to Airflow: errors that a retry of the task can fix (a server that was down, a
run that failed and may succeed when resubmitted) derive from :class:`AirflowException`; errors that
no retry can fix (bad arguments, bad credentials, a flow that does not exist) also derive from
:class:`AirflowFailException`, so Airflow fails the task without spending its retries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk.exceptions import AirflowException

from airflow_flowrun._compat import AirflowFailException


class InvalidParameterError(AirflowFailException, ValueError):
    """A parameter or connection field is invalid; raised before any HTTP call is made."""

    def __init__(self, param: str, value: Any, reason: str) -> None:
        self.param = param
        self.value = value
        self.reason = reason
        super().__init__(f"{param}={value!r}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.param, self.value, self.reason))


class FlowServiceError(AirflowException):
    """An Adobe IMS or Flow Service call failed.

    :param status: HTTP status, or ``None`` when no answer came (connection error, timeout)
    :param code: Adobe's error code, e.g. ``FLOW-1383-400``, the gateway's ``401013`` or IMS's
        ``invalid_client``
    :param message: what the service said
    :param request_id: the ``x-request-id`` of the failed call, for Adobe support
    :param retry_after: seconds the service asked to wait (``Retry-After``), if any
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        method: str | None = None,
        url: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.method = method
        self.url = url
        self.retry_after = retry_after
        parts = [f"{method} {url}" if method and url else None, f"HTTP {status}" if status else None]
        parts += [f"code {code}" if code else None, f"request id {request_id}" if request_id else None]
        where = ", ".join(p for p in parts if p)
        super().__init__(f"Flow Service call failed ({where}): {message}" if where else message)

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs = {
            "status": self.status,
            "code": self.code,
            "request_id": self.request_id,
            "method": self.method,
            "url": self.url,
            "retry_after": self.retry_after,
        }
        return (_rebuild_error, (type(self), self.message, kwargs))


class FlowServiceFatalError(FlowServiceError, AirflowFailException):
    """A Flow Service or IMS answer that no retry can change (a 4xx other than 429)."""


class FlowRunFailedError(AirflowException):
    """A flow run ended ``failed``, or with row errors when the caller asked to fail on them.

    :param run_id: the flow run id
    :param status: the run's final status as Adobe wrote it
    :param errors: the run's errors, ``[{"code": ..., "message": ...}]``
    :param ui_url: the run's page in the AEP UI
    """

    def __init__(self, run_id: str, status: str, errors: list[dict[str, Any]], ui_url: str, reason: str = "") -> None:
        self.run_id = run_id
        self.status = status
        self.errors = errors
        self.ui_url = ui_url
        self.reason = reason
        shown = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors[:3])
        more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
        reason = reason or f"ended with status {status!r}"
        detail = f" Errors: {shown}{more}." if errors else " Adobe reported no error details."
        super().__init__(f"Flow run {run_id} {reason}.{detail} See {ui_url}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.run_id, self.status, self.errors, self.ui_url, self.reason))


class FlowRunRowErrorsError(FlowRunFailedError, AirflowFailException):
    """A run ended ``success`` but with row errors, and the caller asked to fail on them.

    A retry would re-attach to the same finished run and fail the same way, so Airflow spends no
    retries on it (it is an :class:`AirflowFailException`).
    """


class FlowRunTimeoutError(AirflowException):
    """Waiting for a flow run took longer than the task's ``timeout``."""


def error_to_event(err: Exception) -> dict[str, Any]:
    """What a trigger event carries of an error, so the worker can raise the very same exception.

    ``fatal`` says whether a retry could change the outcome (see :func:`error_from_event`).
    """
    fatal = isinstance(err, AirflowFailException)
    if isinstance(err, FlowServiceError):
        fields = {"message": err.message, "status": err.status, "code": err.code, "request_id": err.request_id}
        fields |= {"method": err.method, "url": err.url}
        return {"type": "FlowServiceFatalError" if fatal else "FlowServiceError", "fatal": fatal, **fields}
    if isinstance(err, InvalidParameterError):
        value = err.value if err.value is None or isinstance(err.value, str | int | float | bool) else str(err.value)
        return {
            "type": "InvalidParameterError",
            "fatal": True,
            "param": err.param,
            "value": value,
            "reason": err.reason,
        }
    return {"type": "AirflowFailException" if fatal else "AirflowException", "fatal": fatal, "message": str(err)}


def error_from_event(error: dict[str, Any], *, default_message: str) -> Exception:
    """The exception a worker raises for an ``error`` trigger event: the class the trigger met.

    An event without details (an older trigger) gives a plain, retryable :class:`AirflowException`.
    """
    kind = error.get("type")
    if kind in ("FlowServiceError", "FlowServiceFatalError"):
        cls = FlowServiceFatalError if kind == "FlowServiceFatalError" else FlowServiceError
        fields = {key: error.get(key) for key in ("status", "code", "request_id", "method", "url")}
        return cls(str(error.get("message") or default_message), **fields)
    if kind == "InvalidParameterError":
        return InvalidParameterError(str(error.get("param")), error.get("value"), str(error.get("reason")))
    if error.get("fatal"):
        return AirflowFailException(str(error.get("message") or default_message))
    return AirflowException(str(error.get("message") or default_message))


def _rebuild_error(cls: type[FlowServiceError], message: str, kwargs: dict[str, Any]) -> FlowServiceError:
    return cls(message, **kwargs)


class WindowCoverageError(AirflowException):
    """A flow's succeeded runs leave gaps in a time range, or ingest part of it more than once.

    Retryable: AEP may still fill a gap (a run in progress, a scheduled run, a re-run), so a later
    try can pass.

    :param message: the report naming every gap and overlap
    :param gaps: the uncovered ``[s, e]`` windows (epoch seconds)
    :param overlaps: the ``{"window", "run_ids"}`` stretches ingested more than once that failed the check
    """

    def __init__(self, message: str, *, gaps: list[list[int]], overlaps: list[dict[str, Any]]) -> None:
        self.message = message
        self.gaps = gaps
        self.overlaps = overlaps
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_coverage_error, (self.message, self.gaps, self.overlaps))


def _rebuild_coverage_error(message: str, gaps: list[list[int]], overlaps: list[dict[str, Any]]) -> WindowCoverageError:
    return WindowCoverageError(message, gaps=gaps, overlaps=overlaps)


class ExistingWindowRunError(AirflowFailException):
    """The flow already has an active or succeeded run for the window, and the task was told to fail then.

    Another try would find the same run, so Airflow spends no retries on it.

    :param run_id: the existing run (the newest active or succeeded one for the window)
    :param status: its status as Adobe wrote it
    :param window: ``(window_start, window_end)`` in epoch seconds
    :param ui_url: its page in the AEP UI
    """

    def __init__(self, run_id: str, status: str | None, window: tuple[int, int], ui_url: str) -> None:
        self.run_id = run_id
        self.status = status
        self.window = window
        self.ui_url = ui_url
        start, end = (datetime.fromtimestamp(bound, tz=UTC).isoformat().replace("+00:00", "Z") for bound in window)
        super().__init__(
            f"Flow run {run_id} (status {status or 'unknown'!r}) already exists for window [{window[0]}, {window[1]}) "
            f"({start} to {end}), and on_existing_window_run='fail': no run is created. See {ui_url}. Use "
            "on_existing_window_run='reuse' to take that run as this task's, or 'create' to ingest the window again"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.run_id, self.status, self.window, self.ui_url))
