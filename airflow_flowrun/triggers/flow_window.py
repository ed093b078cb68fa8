"""The trigger that waits in the triggerer until a flow's runs have ingested a data window."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import BaseTrigger, StartTriggerArgs, TriggerEvent

from airflow_flowrun._compat import AIRFLOW_V_3_3_PLUS
from airflow_flowrun.connection import DEFAULT_CONN_ID
from airflow_flowrun.exceptions import FlowServiceError
from airflow_flowrun.task_window import interval_window
from airflow_flowrun.triggers.flow_run import _seconds, _without_secret, scrubbed_error, sleep_until, subscribe
from airflow_flowrun.validation import resolve_window, validate_uuid
from airflow_flowrun.window_wait import judge_window, summarize_all, window_failure

if TYPE_CHECKING:
    from airflow_flowrun.connection import AepConnectionSettings
    from airflow_flowrun.triggers._grid import Subscription


#: The data interval as a started-from-trigger window renders it in the triggerer (empty when there is none).
DATA_INTERVAL_START = "{{ data_interval_start.isoformat() if data_interval_start else '' }}"
DATA_INTERVAL_END = "{{ data_interval_end.isoformat() if data_interval_end else '' }}"


class AdobeFlowWindowTrigger(BaseTrigger):
    """Wait until the runs of a flow cover ``[window_start, window_end)``; yield one event saying how it ended.

    The verdict is :func:`~airflow_flowrun.window_wait.judge_window`'s, the one a sensor's poke
    gives. Every such trigger of one connection in a triggerer process shares one token and one
    :class:`~airflow_flowrun.triggers._poller.FlowPoller`: one listing of a flow's runs per poll
    cycle however many tasks wait on that flow. The event payload is
    ``{"status": "success" | "failed" | "timeout" | "error", "flow_id", "window", "message", "reason",
    "flow_runs", "fatal", "end_time", "created_at"}``: ``flow_runs`` holds the summaries of the runs
    that covered the window (``success``) or of the failed run (``failed``), ``reason`` what the
    failed run left uncovered; an ``error`` event also carries ``error`` (see
    :class:`~airflow_flowrun.triggers.flow_run.AdobeFlowRunTrigger`).

    The window may still be a template when the trigger is built (a sensor started from the
    triggerer, whose kwargs Airflow 3.3 renders in the triggerer): it is read when the wait starts,
    and a window that cannot be read ends the wait with a fatal ``error`` event naming it.

    :param flow_id: the dataflow whose runs to watch
    :param window_start: start of the window: epoch seconds, an ISO-8601 string with offset, or a datetime
    :param window_end: end of the window, exclusive
    :param aep_conn_id: the ``aep`` connection
    :param poll_interval: seconds between two listings of the flow's runs
    :param end_time: epoch seconds after which the wait ends with a ``timeout`` event; None waits forever
    :param not_before: epoch seconds before which the flow is not read (a sensor waiting on after a
        silent failure reads again one poke interval later)
    :param data_interval: the window is the DAG run's data interval, rendered in the triggerer (empty
        when the run has none): its absence is then explained as the worker would explain it
    """

    def __init__(
        self,
        flow_id: str,
        window_start: Any,
        window_end: Any,
        aep_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 30.0,
        end_time: float | None = None,
        not_before: float | None = None,
        data_interval: bool = False,
    ) -> None:
        super().__init__()
        self.flow_id = flow_id
        self.window_start = window_start
        self.window_end = window_end
        self.aep_conn_id = aep_conn_id
        self.poll_interval = _seconds("poll_interval", poll_interval, positive=True)
        self.end_time = None if end_time is None else _seconds("end_time", end_time)
        self.not_before = None if not_before is None else _seconds("not_before", not_before)
        self.data_interval = bool(data_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "flow_id": self.flow_id,
                "window_start": self.window_start,
                "window_end": self.window_end,
                "aep_conn_id": self.aep_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "not_before": self.not_before,
                "data_interval": self.data_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield TriggerEvent(await self.wait_for_outcome())

    async def wait_for_outcome(self) -> dict[str, Any]:
        """The event payload, once the window is covered or lost, the deadline passed or an error stopped the wait."""
        try:
            flow_id = validate_uuid("flow_id", self.flow_id)
            window = list(self._window())
        except AirflowException as err:
            return self._error_event(err, str(err), [])
        await sleep_until(self.not_before, self.end_time)
        try:
            subscription, settings = await subscribe(self.aep_conn_id, flow_id, self.poll_interval, flows=True)
        except AirflowException as err:
            return self._error_event(err, f"Cannot read connection {self.aep_conn_id!r}: {err}", window)
        try:
            return await self._watch(subscription, settings, flow_id, window)
        finally:
            subscription.close()

    def _window(self) -> tuple[int, int]:
        if self.data_interval:
            return interval_window(self.window_start or None, self.window_end or None)
        return resolve_window(self.window_start, self.window_end)

    async def _watch(
        self, subscription: Subscription, settings: AepConnectionSettings, flow_id: str, window: list[int]
    ) -> dict[str, Any]:
        last_message = f"No run of flow {flow_id} has been read yet."
        while True:
            if self.end_time is not None and time.time() >= self.end_time:
                message = f"Waiting for window {window} of flow {flow_id} timed out. {last_message}"
                return self._event("timeout", message, window)
            try:
                async with asyncio.timeout(None if self.end_time is None else self.end_time - time.time()):
                    runs = await subscription.next_reading()
            except TimeoutError:
                continue  # the deadline check above turns this into the timeout event
            except FlowServiceError as err:
                return self._error_event(err, str(err), window, settings)
            verdict = judge_window(runs, flow_id, *window)
            if verdict.state == "waiting":
                if verdict.message != last_message:
                    self.log.info("%s", verdict.message)
                    last_message = verdict.message
                continue
            summaries = summarize_all(verdict.runs, ui_org=settings.ui_org, sandbox_name=settings.sandbox_name)
            if verdict.state == "success":
                return self._event("success", verdict.message, window, summaries)
            failure = window_failure(summaries[0], verdict.message)
            return {**self._event("failed", str(failure), window, summaries), "reason": verdict.message}

    def _error_event(
        self, err: Exception, message: str, window: list[int], settings: AepConnectionSettings | None = None
    ) -> dict[str, Any]:
        error = scrubbed_error(err, settings)
        event = self._event("error", _without_secret(message, settings), window, fatal=bool(error["fatal"]))
        return {**event, "error": error}

    def _event(
        self,
        status: str,
        message: str,
        window: list[int],
        summaries: list[dict[str, Any]] | None = None,
        *,
        fatal: bool = False,
    ) -> dict[str, Any]:
        return {
            "status": status, "flow_id": self.flow_id, "window": window, "message": message, "reason": None,
            "flow_runs": summaries or [], "fatal": fatal, "end_time": self.end_time, "created_at": None,
        }  # fmt: skip


def start_trigger_args(
    *, flow_id: str, window_start: Any, window_end: Any, aep_conn_id: str, poll_interval: float, timeout: float
) -> StartTriggerArgs | None:
    """What lets a window sensor start in the triggerer (``start_from_trigger``), or None when it cannot.

    The kwargs keep the sensor's templated fields by their names (``flow_id``, ``window_start``,
    ``window_end``, ``aep_conn_id``): Airflow 3.3 renders them in the triggerer before the trigger
    runs, the data interval (the default window) included. Earlier Airflow renders nothing, so
    anything templated there makes the sensor warn and defer from the worker as usual (None).
    """
    window_given = window_start is not None
    kwargs = {
        "flow_id": flow_id,
        "window_start": window_start if window_given else DATA_INTERVAL_START,
        "window_end": window_end if window_given else DATA_INTERVAL_END,
        "aep_conn_id": aep_conn_id,
        "poll_interval": poll_interval,
        "data_interval": not window_given,
    }
    templated = [key for key, value in kwargs.items() if isinstance(value, str) and "{" in value]
    if templated and not AIRFLOW_V_3_3_PLUS:
        warnings.warn(
            f"start_from_trigger=True with templated {', '.join(templated)} (the default window, the data "
            "interval, is a template too) needs Airflow >= 3.3, which renders them in the triggerer: the task "
            "defers from the worker instead",
            UserWarning,
            stacklevel=4,
        )
        return None
    return StartTriggerArgs(
        trigger_cls=f"{AdobeFlowWindowTrigger.__module__}.{AdobeFlowWindowTrigger.__qualname__}",
        trigger_kwargs=kwargs,
        next_method="execute_complete",
        next_kwargs=None,
        timeout=timedelta(seconds=timeout),
    )
