"""A sensor that waits for a flow run created elsewhere (another task, another DAG, the AEP UI), or for
the runs AEP starts itself to have ingested a flow's data window."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseOperator, BaseSensorOperator, PokeReturnValue

from airflow_flowrun._compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    TaskDeferralTimeout,
    conf,
)
from airflow_flowrun.assets import publish_run_assets
from airflow_flowrun.connection import DEFAULT_CONN_ID
from airflow_flowrun.exceptions import FlowRunTimeoutError, FlowServiceError, InvalidParameterError
from airflow_flowrun.links import FLOW_RUN_LINKS, publish_links
from airflow_flowrun.outcome import is_not_visible_yet, judge, validate_trigger_event
from airflow_flowrun.status import RunStatus
from airflow_flowrun.summary import build_summary
from airflow_flowrun.task_window import check_window_pair, task_window
from airflow_flowrun.validation import check_uuid_unless_templated, validate_uuid
from airflow_flowrun.window_wait import (
    FLOW_RUNS_XCOM_KEY,
    judge_window,
    summarize_all,
    validate_window_event,
    window_failure,
    window_summary,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

SUMMARY_XCOM_KEY = "flow_run"


class AdobeFlowRunSensor(BaseSensorOperator):
    """Wait until a flow run ends, or until a flow's runs have ingested a data window.

    With ``run_id``: done on ``success``, :class:`FlowRunFailedError` on ``failed``. With ``flow_id``
    (for flows AEP runs on its own schedule, which refuse on-demand runs): done when the windows of
    the flow's succeeded runs together cover ``[window_start, window_end)`` with no gap (default: the
    DAG run's data interval; AEP may run hourly while the DAG runs daily), and
    :class:`FlowRunFailedError` when a failed run left part of it uncovered that no run in progress
    can still fill (see :mod:`airflow_flowrun.window_wait`); it then returns the covering runs' ids
    and pushes their summaries as XCom ``flow_runs``, judging each as ``fail_on_row_errors`` says.

    Poke, reschedule and deferrable modes end the same situation the same way: the same verdict on
    the run, :class:`AirflowSensorTimeout` (no retries) when ``timeout`` passes, and ``soft_fail``,
    ``never_fail`` and ``silent_fail`` applied to every poke and every trigger event as
    :class:`BaseSensorOperator` applies them to pokes. The run summary is pushed as XCom
    ``flow_run``; the extra links show as soon as the run has been read. A 404 during the first
    minute of waiting counts as "not visible yet". With ``outlets``, each asset event's ``extra``
    carries the run's essentials (see :mod:`airflow_flowrun.assets`).

    :param run_id: the flow run id (templated), e.g. ``"{{ ti.xcom_pull(task_ids='ingest') }}"``
    :param flow_id: instead of ``run_id``: the dataflow whose window to wait for (templated)
    :param window_start: with ``flow_id``: start of the window (templated; aware datetime, epoch
        seconds or ISO-8601). Default: the DAG run's ``data_interval_start``.
    :param window_end: with ``flow_id``: end of the window, exclusive. Default: ``data_interval_end``.
    :param aep_conn_id: the ``aep`` connection (templated)
    :param fail_on_row_errors: fail when a ``success`` run reports failed records or errors
    :param deferrable: wait in the triggerer instead of a worker slot
    :param start_from_trigger: with ``flow_id`` and ``deferrable``: start in the triggerer, without
        a worker slot for the first check (the worker only resumes the task to push its XComs). On
        Airflow 3.3 the window and ids may be templated (the triggerer renders them); before 3.3 only
        a literal ``flow_id``, window and connection id can start there, else the sensor warns and
        defers from the worker as usual.
    """

    template_fields: Sequence[str] = ("run_id", "flow_id", "window_start", "window_end", "aep_conn_id")
    operator_extra_links = FLOW_RUN_LINKS
    ui_color = "#fa0f00"

    def __init__(
        self,
        *,
        run_id: str | None = None,
        flow_id: str | None = None,
        window_start: Any = None,
        window_end: Any = None,
        aep_conn_id: str = DEFAULT_CONN_ID,
        fail_on_row_errors: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        start_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (run_id is None) == (flow_id is None):
            raise InvalidParameterError(
                "run_id/flow_id", None, "give exactly one: run_id (wait for one run) or flow_id (wait for a window)"
            )
        if run_id is not None and (window_start is not None or window_end is not None):
            raise InvalidParameterError("window_start/window_end", None, "a window goes with flow_id, not run_id")
        check_window_pair(window_start, window_end)
        check_uuid_unless_templated("run_id", run_id)
        check_uuid_unless_templated("flow_id", flow_id)
        self.run_id = run_id
        self.flow_id = flow_id
        self.window_start = window_start
        self.window_end = window_end
        self.aep_conn_id = aep_conn_id
        self.fail_on_row_errors = fail_on_row_errors
        self.deferrable = deferrable
        self._first_poke_at: float | None = None
        if start_from_trigger:
            if flow_id is None or not deferrable:
                raise InvalidParameterError(
                    "start_from_trigger", True, "needs flow_id (a window to wait for) and deferrable=True"
                )
            from airflow_flowrun.triggers.flow_window import start_trigger_args

            self.start_trigger_args = start_trigger_args(
                flow_id=flow_id, window_start=window_start, window_end=window_end, aep_conn_id=aep_conn_id,
                poll_interval=self.poke_interval, timeout=self.timeout,
            )  # fmt: skip
            self.start_from_trigger = self.start_trigger_args is not None

    @cached_property
    def hook(self) -> AdobeFlowServiceHook:
        from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

        return AdobeFlowServiceHook(aep_conn_id=self.aep_conn_id)

    def execute(self, context: Context) -> Any:
        if self.flow_id is None:
            validate_uuid("run_id", self.run_id)
        else:
            validate_uuid("flow_id", self.flow_id)
            task_window(context, self.window_start, self.window_end)
        if not self.deferrable:
            return super().execute(context)
        started = time.time()
        try:
            done = self.poke(context)
            if done:
                return done.xcom_value if isinstance(done, PokeReturnValue) else None
        except Exception as err:
            self._on_poke_error(err)
        self._defer(context, end_time=started + self.timeout, waiting_since=started)
        return None

    def poke(self, context: Context) -> bool | PokeReturnValue:
        if self.flow_id is not None:
            return self._poke_window(context)
        run_id = validate_uuid("run_id", str(self.run_id))
        try:
            run = self.hook.get_run(run_id)
        except FlowServiceError as err:
            if is_not_visible_yet(err, self._waiting_since(context)):
                self.log.info("Flow run %s is not visible yet; waiting", run_id)
                return False
            raise
        summary = self._summarize(run)
        self._publish_links(context, summary)
        status = RunStatus.parse(summary["status"])
        if not status.is_terminal():
            self.log.info("Flow run %s is %s", run_id, status.value)
            return False
        self._finish(context, summary)
        return True

    def _poke_window(self, context: Context) -> bool | PokeReturnValue:
        """One reading of the flow's runs, judged for the window (see :func:`~.window_wait.judge_window`)."""
        flow_id = validate_uuid("flow_id", str(self.flow_id))
        start, end = task_window(context, self.window_start, self.window_end)
        self._publish_links(context, {"flow_id": flow_id, "run_id": None})
        verdict = judge_window(list(self.hook.list_runs(flow_id)), flow_id, start, end)
        if verdict.state == "waiting":
            self.log.info("%s", verdict.message)
            return False
        settings = self.hook.settings
        summaries = summarize_all(verdict.runs, ui_org=settings.ui_org, sandbox_name=settings.sandbox_name)
        if verdict.state == "failed":
            raise window_failure(summaries[0], verdict.message)
        return PokeReturnValue(is_done=True, xcom_value=self._finish_window(context, summaries))

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        end_time: float | None = None,
        waiting_since: float | None = None,
    ) -> list[str] | None:
        """Resume after the trigger: the same verdict, and the same fail modes, as a poke."""
        try:
            if self.flow_id is not None:
                summaries = validate_window_event(event, validate_uuid("flow_id", self.flow_id))
            else:
                summary = validate_trigger_event(event, validate_uuid("run_id", str(self.run_id)))
        except FlowRunTimeoutError as err:
            self._time_out(str(err))
        except Exception as err:
            self._on_poke_error(err)
        else:
            try:
                if self.flow_id is not None:
                    return self._finish_window(context, summaries)
                self._finish(context, summary)
                return None
            except Exception as err:
                self._on_poke_error(err)
        # silent_fail: keep waiting, as a poke that failed silently does, one poke interval from now
        # (the deadline comes from the defer kwargs, or from the event where those are dropped: dag.test)
        if isinstance(event, dict):
            end_time = end_time if end_time is not None else event.get("end_time")
            waiting_since = waiting_since if waiting_since is not None else event.get("created_at")
        now = time.time()
        if end_time is None or now >= end_time:
            self._time_out(f"Sensor has timed out waiting for {self._waited_for()}.")
        self._defer(context, end_time=end_time, waiting_since=waiting_since or now, not_before=now + self.poke_interval)
        return None

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume with the fail modes applied by :meth:`execute_complete` only, as they are to pokes.

        ``BaseSensorOperator`` would skip on *any* error under ``soft_fail``, which a poke does only
        for timeouts and errors no retry can change; a deferral that timed out is a sensor timeout.
        """
        try:
            return BaseOperator.resume_execution(self, next_method, next_kwargs, context)
        except TaskDeferralTimeout as err:
            self._time_out(str(err))
        except AirflowSkipException:
            raise
        except Exception as err:
            if self.never_fail or (self.soft_fail and isinstance(err, AirflowFailException)):
                raise AirflowSkipException(f"Skipping: {err}") from err
            raise

    def _defer(
        self, context: Context, *, end_time: float, waiting_since: float, not_before: float | None = None
    ) -> None:
        trigger: BaseTrigger
        if self.flow_id is not None:
            from airflow_flowrun.triggers.flow_window import AdobeFlowWindowTrigger

            start, end = task_window(context, self.window_start, self.window_end)
            trigger = AdobeFlowWindowTrigger(
                flow_id=validate_uuid("flow_id", self.flow_id), window_start=start, window_end=end,
                aep_conn_id=self.aep_conn_id, poll_interval=self.poke_interval, end_time=end_time,
                not_before=not_before,
            )  # fmt: skip
        else:
            from airflow_flowrun.triggers.flow_run import AdobeFlowRunTrigger

            trigger = AdobeFlowRunTrigger(
                run_id=validate_uuid("run_id", str(self.run_id)), aep_conn_id=self.aep_conn_id,
                poll_interval=self.poke_interval, end_time=end_time, created_at=waiting_since, not_before=not_before,
            )  # fmt: skip
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            kwargs={"end_time": end_time, "waiting_since": waiting_since},
            timeout=timedelta(seconds=max(end_time - time.time(), 0) + 10 * self.poke_interval + 60),
        )

    def _on_poke_error(self, err: Exception) -> None:
        """What ``BaseSensorOperator`` does with an error of a poke; returns when the sensor keeps waiting."""
        if isinstance(err, AirflowSensorTimeout | AirflowTaskTimeout | AirflowFailException):
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(
                    f"Skipping ({'soft_fail' if self.soft_fail else 'never_fail'}): {err}"
                ) from err
            raise err
        if isinstance(err, AirflowSkipException):
            raise err
        if self.silent_fail:
            self.log.error("Sensor poke failed (silent_fail=True, waiting on): %s", err)
            return
        if self.never_fail:
            raise AirflowSkipException(f"Skipping (never_fail): {err}") from err
        raise err

    def _time_out(self, message: str) -> NoReturn:
        """A timeout ends as in poke mode: skipped under ``soft_fail``, else :class:`AirflowSensorTimeout`."""
        if self.soft_fail:
            raise AirflowSkipException(message)
        raise AirflowSensorTimeout(message)

    def _finish(self, context: Context, summary: dict[str, Any]) -> None:
        self._publish_links(context, summary)
        context["ti"].xcom_push(key=SUMMARY_XCOM_KEY, value=summary)
        judge(summary, fail_on_row_errors=self.fail_on_row_errors, log=self.log)
        publish_run_assets(self, context, self.hook, summary)

    def _finish_window(self, context: Context, summaries: list[dict[str, Any]]) -> list[str]:
        """Push the covering runs' summaries, judge each, emit asset events; their ids are the result."""
        flow_id = validate_uuid("flow_id", str(self.flow_id))
        start, end = task_window(context, self.window_start, self.window_end)
        self._publish_links(context, {"flow_id": flow_id, "run_id": summaries[-1]["run_id"] if summaries else None})
        context["ti"].xcom_push(key=FLOW_RUNS_XCOM_KEY, value=summaries)
        for summary in summaries:
            judge(summary, fail_on_row_errors=self.fail_on_row_errors, log=self.log)
        publish_run_assets(self, context, self.hook, window_summary(flow_id, start, end, summaries))
        return [summary["run_id"] for summary in summaries]

    def _waited_for(self) -> str:
        if self.flow_id is not None:
            return f"the window of flow {self.flow_id}"
        return f"flow run {self.run_id}"

    def _publish_links(self, context: Context, summary: dict[str, Any]) -> None:
        settings = self.hook.settings
        publish_links(
            self, context["ti"], ui_org=settings.ui_org, sandbox_name=settings.sandbox_name,
            flow_id=str(summary["flow_id"]), run_id=summary["run_id"],
        )  # fmt: skip

    def _summarize(self, run: dict[str, Any]) -> dict[str, Any]:
        settings = self.hook.settings
        return build_summary(run, ui_org=settings.ui_org, sandbox_name=settings.sandbox_name)

    def _waiting_since(self, context: Context) -> float:
        if self.reschedule:
            first = context["ti"].get_first_reschedule_date(context)
            if first is not None:
                return first.timestamp()
        if self._first_poke_at is None:
            self._first_poke_at = time.time()
        return self._first_poke_at
