"""How a wait ends, decided in one place for the operators (sync and deferred) and the sensor.

The sync wait loop, the trigger event check and the final verdict on a finished run all live here,
so a run gets the same outcome whichever mode waited for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException

from airflow_flowrun.exceptions import (
    FlowRunFailedError,
    FlowRunRowErrorsError,
    FlowRunTimeoutError,
    FlowServiceError,
    error_from_event,
)
from airflow_flowrun.status import RunStatus
from airflow_flowrun.summary import format_summary, has_row_errors
from airflow_flowrun.validation import validate_positive

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

#: A run can answer 404 for a short while after it was created; within this many seconds that is "not visible yet".
VISIBILITY_GRACE = 60.0

TRIGGER_EVENT_STATUSES = ("success", "failed", "timeout", "error")
#: The longest wait for a run unless the caller says otherwise.
DEFAULT_TIMEOUT = timedelta(hours=6)


def wait_seconds(param: str, value: float | timedelta) -> float:
    """A duration of a wait given as seconds or ``timedelta``, checked positive (naming ``param``)."""
    return validate_positive(param, value.total_seconds() if isinstance(value, timedelta) else value)


def timeout_message(run_id: str, last_status: str | None, ui_url: str) -> str:
    """The text of a wait that ran out of time; the same for sync and deferred waits."""
    return (
        f"Waiting for flow run {run_id} timed out; its last status was {last_status or 'unknown'!r}. "
        f"Flow Service cannot cancel a run, so it may still finish and ingest data: check it at {ui_url}"
    )


def is_not_visible_yet(err: FlowServiceError, created_at: float | None) -> bool:
    """A 404 for a run created moments ago (epoch seconds ``created_at``): not visible yet, not missing."""
    return err.status == 404 and created_at is not None and time.time() - created_at < VISIBILITY_GRACE


def is_stale_failure(summary: dict[str, Any], stale_failure: dict[str, Any] | None, since: float | None) -> bool:
    """A ``failed`` reading right after a re-trigger that is still the attempt that was re-triggered.

    Flow Service can show the old attempt's ``failed`` status for a moment after ``op=re-trigger``;
    that is not the new attempt's outcome. A failure counts as stale while its ``completed_at`` is
    the re-triggered attempt's and less than :data:`VISIBILITY_GRACE` seconds have passed since the
    re-trigger (epoch seconds ``since``); after that it is taken as the outcome.

    :param stale_failure: ``{"completed_at": ...}`` of the attempt that was re-triggered, or None
    """
    if stale_failure is None or RunStatus.parse(summary.get("status")) is not RunStatus.FAILED:
        return False
    if since is not None and time.time() - since >= VISIBILITY_GRACE:
        return False
    return summary.get("completed_at") == stale_failure.get("completed_at")


def wait_for_run(
    read_run: Callable[[], dict[str, Any]],
    summarize: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    run_id: str,
    poll_interval: float,
    timeout: float,
    created_at: float | None,
    log: Logger,
    stale_failure: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Poll a run in this process until it is terminal; return its summary.

    The one wait loop of the worker side (:meth:`AdobeFlowServiceHook.wait_for_run
    <airflow_flowrun.hooks.flow_service.AdobeFlowServiceHook.wait_for_run>` runs it). The deadline
    is checked before each status read, as the trigger does.

    :param stale_failure: after a re-trigger, the failed attempt it replaced (see :func:`is_stale_failure`)

    :raises FlowRunTimeoutError: when ``timeout`` seconds pass first; its text links the run's page
        as the last summary read names it
    """
    started = time.monotonic()
    last: dict[str, Any] = {}
    while True:
        waited = time.monotonic() - started
        if waited >= timeout:
            raise FlowRunTimeoutError(timeout_message(run_id, last.get("status"), last.get("ui_url") or "the AEP UI"))
        try:
            run = read_run()
        except FlowServiceError as err:
            if not is_not_visible_yet(err, created_at):
                raise
            log.info("Flow run %s is not visible yet; waiting", run_id)
        else:
            last = summary = summarize(run)
            if is_stale_failure(summary, stale_failure, created_at):
                log.info("Flow run %s still shows the failed attempt that was re-triggered; waiting", run_id)
            elif RunStatus.parse(summary["status"]).is_terminal():
                return summary
            log.info("Flow run %s is %s; next check in %.0f s", run_id, summary["status"], poll_interval)
        time.sleep(max(0.0, min(poll_interval, timeout - (time.monotonic() - started))))


def raise_if_failed(summary: dict[str, Any]) -> None:
    """Raise :class:`FlowRunFailedError` when the summarised run ended ``failed``."""
    if RunStatus.parse(summary["status"]) is RunStatus.FAILED:
        raise FlowRunFailedError(summary["run_id"], summary["status"], summary["errors"], summary["ui_url"])


def judge(summary: dict[str, Any], *, fail_on_row_errors: bool, log: Logger) -> None:
    """Log a finished run's summary, and raise when it failed (or had row errors the caller refuses)."""
    log.info("Flow run %s finished:\n%s", summary["run_id"], format_summary(summary))
    raise_if_failed(summary)
    if has_row_errors(summary):
        if fail_on_row_errors:
            raise FlowRunRowErrorsError(
                summary["run_id"],
                summary["status"],
                summary["errors"],
                summary["ui_url"],
                reason=f"succeeded with {summary['failed_records'] or 0} failed records and row errors "
                "(fail_on_row_errors=True)",
            )
        log.warning(
            "Flow run %s succeeded with %s failed records and %d errors; fail_on_row_errors=False lets it pass",
            summary["run_id"],
            summary["failed_records"],
            len(summary["errors"]),
        )


def validate_trigger_event(event: Any, run_id: str | None = None) -> dict[str, Any]:
    """Check an event from :class:`AdobeFlowRunTrigger` and turn a failed wait into its exception.

    Returns the run summary of a ``success`` or ``failed`` event (for :func:`judge`); a missing,
    malformed or unknown event fails loudly instead of passing as success. An ``error`` event raises
    the exception the trigger met, rebuilt from the event's ``error`` (so a 403 or a 404 past the
    visibility grace fails without retries, as it does in a worker).
    """
    if not isinstance(event, dict) or event.get("status") not in TRIGGER_EVENT_STATUSES:
        raise AirflowException(f"Unexpected event from the flow run trigger: {event!r}")
    if run_id is not None and event.get("run_id") != run_id:
        raise AirflowException(f"Trigger event is for run {event.get('run_id')!r}, expected {run_id!r}: {event!r}")
    summary = event.get("flow_run")
    status = event["status"]
    if status == "timeout":
        raise FlowRunTimeoutError(str(event.get("message")))
    if status == "error":
        error = event["error"] if isinstance(event.get("error"), dict) else {}
        fallback = f"Waiting for flow run {event.get('run_id')} failed: {event.get('message')}"
        raise error_from_event(error, default_message=fallback)
    if not isinstance(summary, dict) or summary.get("run_id") != event.get("run_id"):
        raise AirflowException(f"Trigger event {status!r} carries no summary of run {event.get('run_id')}: {event!r}")
    if status == "success" and RunStatus.parse(summary.get("status")) is not RunStatus.SUCCESS:
        raise AirflowException(f"Trigger said success but the run's status is {summary.get('status')!r}")
    return summary
