"""Waiting for a flow's window: when have the runs AEP started itself ingested it, or failed to?

One verdict for the sensor's pokes (in a worker) and for its trigger (in the triggerer), so a window
ends the same way whichever mode waited for it. A window is done when the flow's succeeded runs
together cover it with no gap (AEP may run hourly while the DAG runs daily); it has failed when a
failed run left part of it uncovered and no run still in progress may yet cover that part; anything
else means waiting. The rules of what covers what are :mod:`airflow_flowrun.coverage`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from airflow.sdk.exceptions import AirflowException

from airflow_flowrun.coverage import (
    clipped_windows,
    format_window,
    format_windows,
    merge,
    subtract,
    uncovered_failures,
    uncovered_pending,
    window_coverage,
)
from airflow_flowrun.exceptions import FlowRunFailedError, FlowRunTimeoutError, error_from_event
from airflow_flowrun.outcome import TRIGGER_EVENT_STATUSES
from airflow_flowrun.status import RunStatus
from airflow_flowrun.summary import build_summary

#: XCom key of the summaries of the runs that covered the window (the sensor's ``flow_runs``).
FLOW_RUNS_XCOM_KEY = "flow_runs"


@dataclass(frozen=True)
class WindowVerdict:
    """How a flow's window stands after one reading of the flow's runs.

    :param state: ``success`` (covered, no gap), ``failed`` (a failed run left part of it uncovered
        and nothing still running may fill it) or ``waiting``
    :param runs: ``success``: the succeeded runs that cover the window, ordered by window start and
        creation; ``failed``: the failed run; ``waiting``: none
    :param message: what a log line or an exception says about it
    """

    state: Literal["success", "failed", "waiting"]
    runs: list[dict[str, Any]]
    message: str


def judge_window(runs: Sequence[Mapping[str, Any]], flow_id: str, start: int, end: int) -> WindowVerdict:
    """The verdict on ``[start, end)`` of ``flow_id`` given the flow's runs (run objects, any order)."""
    coverage = window_coverage(runs, start, end)
    window = format_window([start, end])
    if not coverage["gaps"]:
        covering = _covering_runs(runs, start, end)
        ids = ", ".join(str(run["id"]) for run in covering)
        return WindowVerdict("success", covering, f"Window {window} of flow {flow_id} is ingested by run(s) {ids}.")
    may_still_fill = merge(entry["window"] for entry in uncovered_pending(coverage))
    for failure in uncovered_failures(coverage):
        lost = [part for uncovered in failure["uncovered"] for part in subtract(uncovered, may_still_fill)]
        if lost:
            failed = next(run for run in runs if run.get("id") == failure["run_id"])
            return WindowVerdict(
                "failed",
                [dict(failed)],
                f"it left {format_windows(lost)} of window {window} of flow {flow_id} uncovered, and no other run "
                "covers that part",
            )
    pending = ", ".join(f"{entry['run_id']} {format_window(entry['window'])}" for entry in coverage["pending"])
    return WindowVerdict(
        "waiting",
        [],
        f"Window {window} of flow {flow_id} is not ingested yet: gaps {format_windows(coverage['gaps'])}; "
        f"runs in progress: {pending or 'none'}",
    )


def _covering_runs(runs: Sequence[Mapping[str, Any]], start: int, end: int) -> list[dict[str, Any]]:
    """The succeeded runs whose windows meet ``[start, end)``, in window and creation order, each once."""
    succeeded = {w.run_id: w for w in clipped_windows(runs, start, end) if w.status is RunStatus.SUCCESS}
    meeting = {str(run["id"]): dict(run) for run in runs if run.get("id") in succeeded}
    return sorted(meeting.values(), key=lambda run: (succeeded[run["id"]].start, *succeeded[run["id"]].order))


def window_failure(summary: Mapping[str, Any], reason: str) -> FlowRunFailedError:
    """The exception a window wait ends with when ``summary``'s run failed and left part of the window uncovered."""
    return FlowRunFailedError(
        str(summary["run_id"]),
        str(summary["status"]),
        list(summary.get("errors") or []),
        str(summary["ui_url"]),
        reason=f"ended with status {summary['status']!r}: {reason}",
    )


def summarize_all(runs: Sequence[Mapping[str, Any]], *, ui_org: str, sandbox_name: str) -> list[dict[str, Any]]:
    """Each run's ``flow_run`` summary, in the given order."""
    return [build_summary(dict(run), ui_org=ui_org, sandbox_name=sandbox_name) for run in runs]


def window_summary(flow_id: str, start: int, end: int, summaries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One summary of the runs that covered a window, shaped like a run summary for asset events.

    Counts are the runs' sums (None when no run reported one), ``batch_ids`` all their batches,
    ``run_id`` the last run and ``run_ids`` all of them; the window is the one waited for.
    """

    def total(field: str) -> int | None:
        values = [summary[field] for summary in summaries if summary.get(field) is not None]
        return sum(values) if values else None

    return {
        "run_id": summaries[-1]["run_id"] if summaries else None,
        "run_ids": [summary["run_id"] for summary in summaries],
        "flow_id": flow_id,
        "status": "success",
        "window_start": start,
        "window_end": end,
        "input_records": total("input_records"),
        "output_records": total("output_records"),
        "failed_records": total("failed_records"),
        "batch_ids": [batch for summary in summaries for batch in summary.get("batch_ids") or []],
        "errors": [error for summary in summaries for error in summary.get("errors") or []],
        "ui_url": summaries[-1]["ui_url"] if summaries else None,
    }


def validate_window_event(event: Any, flow_id: str) -> list[dict[str, Any]]:
    """The covering runs' summaries from a window trigger's event, or the exception it stands for.

    The worker's side of :func:`judge_window`: a ``failed`` event raises what a poke would have
    raised, ``timeout`` :class:`FlowRunTimeoutError`, ``error`` the exception the trigger met; a
    missing, malformed or foreign event fails loudly instead of passing as success.
    """
    if not isinstance(event, dict) or event.get("status") not in TRIGGER_EVENT_STATUSES:
        raise AirflowException(f"Unexpected event from the flow window trigger: {event!r}")
    if event.get("flow_id") != flow_id:
        raise AirflowException(f"Trigger event is for flow {event.get('flow_id')!r}, expected {flow_id!r}: {event!r}")
    status, summaries = event["status"], event.get("flow_runs")
    if status == "timeout":
        raise FlowRunTimeoutError(str(event.get("message")))
    if status == "error":
        error = event["error"] if isinstance(event.get("error"), dict) else {}
        raise error_from_event(
            error, default_message=f"Waiting for a window of flow {flow_id} failed: {event.get('message')}"
        )
    if not isinstance(summaries, list) or not all(isinstance(summary, dict) for summary in summaries):
        raise AirflowException(f"Trigger event {status!r} carries no run summaries: {event!r}")
    if status == "failed":
        if not summaries:
            raise AirflowException(f"Trigger event 'failed' names no failed run: {event!r}")
        raise window_failure(summaries[0], str(event.get("reason") or event.get("message")))
    return summaries
