"""Operators that create an on-demand flow run for a data window and, by default, wait for it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_flowrun import api
from airflow_flowrun._compat import conf
from airflow_flowrun.assets import publish_run_assets
from airflow_flowrun.connection import DEFAULT_CONN_ID
from airflow_flowrun.exceptions import FlowServiceError, InvalidParameterError
from airflow_flowrun.existing_window_run import CREATE, validate_choice
from airflow_flowrun.links import FLOW_RUN_LINKS, publish_links
from airflow_flowrun.openlineage import IngestionLineage, KnownRun
from airflow_flowrun.outcome import DEFAULT_TIMEOUT, judge, validate_trigger_event, wait_seconds
from airflow_flowrun.status import RunStatus
from airflow_flowrun.submission import RunSubmitter, Submission, mark_finished
from airflow_flowrun.summary import build_summary
from airflow_flowrun.task_window import check_window_pair, task_window
from airflow_flowrun.validation import check_uuid_unless_templated, validate_uuid

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
    from airflow_flowrun.openlineage import OperatorLineage

SUMMARY_XCOM_KEY = "flow_run"


class _AdobeFlowRunOperator(BaseOperator):
    """Create an on-demand run of a Flow Service dataflow for a data window; optionally wait for it.

    :param flow_id: the dataflow id (a UUID; templated)
    :param window_start: start of the data window (templated): aware datetime, epoch seconds or
        ISO-8601 with offset. Default: the DAG run's ``data_interval_start``.
    :param window_end: end of the window, exclusive (templated). Default: ``data_interval_end``.
    :param start_time: when the run should start (templated). Default: now.
    :param aep_conn_id: the ``aep`` connection
    :param wait_for_completion: wait until the run ends (default True); else return once created
    :param deferrable: wait in the triggerer instead of a worker slot
    :param poll_interval: seconds between status checks
    :param timeout: longest wait for completion, seconds or timedelta (default 6 hours)
    :param fail_on_row_errors: fail when a ``success`` run reports failed records or errors
    :param retrigger_failed_run: when an earlier try's run failed, re-run it with ``op=re-trigger``
        instead of creating a new run
    :param on_existing_window_run: what to do when the flow already has a run for exactly this
        window that this task did not make (another DAG run, another DAG, the AEP UI). ``"create"``
        (default): create another run, which ingests the window again; fine for profile datasets
        (records are upserts by identity) or when a run is meant to re-ingest. ``"reuse"``: take the
        newest active or succeeded run as this task's run (wait for it, return its id, push its
        summary, emit the assets) and create one only when none exists or all failed; for event
        datasets, where a second ingestion duplicates rows: a backfill or manual run over windows
        the schedule already ingested, two DAGs on one flow. ``"fail"``: fail without retries naming
        that run, when a window must never be ingested twice and a person should decide. A failed
        run never counts (it ingested nothing reliable); the task's own earlier tries follow the
        exactly-once rules of :mod:`airflow_flowrun.submission` whatever this says (see
        :mod:`airflow_flowrun.existing_window_run`).
    :return: the flow run id (XCom ``return_value``, pushed as soon as the run exists); when it
        waits, the run summary is pushed as XCom ``flow_run``. With ``outlets``, each asset event's
        ``extra`` carries the run's essentials, and an ``AssetAlias`` emits one asset per AEP dataset
        the flow writes (see :mod:`airflow_flowrun.assets`). The extra links **AEP flow run** and
        **AEP flow activity** are stored as soon as the run exists, so they show while the task waits.
    """

    template_fields: Sequence[str] = ("flow_id", "window_start", "window_end", "start_time", "aep_conn_id")
    operator_extra_links = FLOW_RUN_LINKS
    ui_color = "#fa0f00"

    def __init__(
        self,
        *,
        flow_id: str,
        window_start: Any = None,
        window_end: Any = None,
        start_time: Any = None,
        aep_conn_id: str = DEFAULT_CONN_ID,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        fail_on_row_errors: bool = False,
        retrigger_failed_run: bool = False,
        on_existing_window_run: str = CREATE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_uuid_unless_templated("flow_id", flow_id)
        check_window_pair(window_start, window_end)
        self.flow_id = flow_id
        self.window_start = window_start
        self.window_end = window_end
        self.start_time = start_time
        self.aep_conn_id = aep_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = wait_seconds("poll_interval", poll_interval)
        self.timeout = wait_seconds("timeout", timeout)
        self.fail_on_row_errors = fail_on_row_errors
        self.retrigger_failed_run = retrigger_failed_run
        self.on_existing_window_run = validate_choice(on_existing_window_run)
        self._run_id: str | None = None
        self._flow_run_summary: dict[str, Any] | None = None  # for OpenLineage, in the process that finished

    @cached_property
    def hook(self) -> AdobeFlowServiceHook:
        from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

        return AdobeFlowServiceHook(aep_conn_id=self.aep_conn_id)

    @cached_property
    def _lineage(self) -> IngestionLineage:
        return IngestionLineage(self.hook, self.flow_id, summary_xcom_key=SUMMARY_XCOM_KEY, log=self.log)

    def _delta_column(self) -> str | None:
        return None

    def execute(self, context: Context) -> str:
        flow_id = validate_uuid("flow_id", self.flow_id)
        window_start, window_end = task_window(context, self.window_start, self.window_end)
        create_args = {
            "window_start": window_start,
            "window_end": window_end,
            "start_time": self.start_time,
            "delta_column": self._delta_column(),
        }
        api.build_run_body(flow_id, **create_args)  # every argument checked before any HTTP call
        submitter = RunSubmitter(
            self.hook, context, flow_id=flow_id, window_start=window_start, window_end=window_end, log=self.log
        )
        submission = submitter.obtain(
            lambda earlier_runs: self.hook.create_run(flow_id, earlier_runs=earlier_runs, **create_args),
            retrigger_failed=self.retrigger_failed_run,
            on_existing_window_run=self.on_existing_window_run,
        )
        run_id = self._run_id = submission.run_id
        ti = context["ti"]
        ti.xcom_push(key="return_value", value=run_id)
        ui_url = self._publish_links(ti, flow_id, run_id)
        self.log.info(
            "Flow run %s (%s) of flow %s for window [%d, %d): %s",
            run_id, submission.how, flow_id, window_start, window_end, ui_url,
        )  # fmt: skip
        if not self.wait_for_completion:
            if self.outlets:  # what an asset event can say of a run that has just started
                publish_run_assets(self, context, self.hook, self._summarize(self.hook.get_run(run_id)))
            submitter.mark_finished(run_id)
            return run_id
        if self.deferrable:
            ended = self._ended_already(submission)
            if ended is not None:
                return self._finish(context, ended)
            from airflow_flowrun.triggers.flow_run import AdobeFlowRunTrigger

            self.defer(
                trigger=AdobeFlowRunTrigger(
                    run_id=run_id,
                    aep_conn_id=self.aep_conn_id,
                    poll_interval=self.poll_interval,
                    end_time=time.time() + self.timeout,
                    created_at=submission.created_at,
                    stale_failure=submission.stale_failure,
                ),
                method_name="execute_complete",
                kwargs={"run_id": run_id},
                timeout=timedelta(seconds=self.timeout + 10 * self.poll_interval + 60),
            )
        summary = self.hook.wait_for_run(
            run_id, poll_interval=self.poll_interval, timeout=self.timeout, raise_on_failure=False,
            created_at=submission.created_at, stale_failure=submission.stale_failure,
        )  # fmt: skip
        return self._finish(context, summary)

    def _ended_already(self, submission: Submission) -> dict[str, Any] | None:
        """The summary of a run taken over from earlier (re-attached, adopted, reused) that has already ended.

        Such a run is read once before deferring, and a finished one is judged here in the worker.
        Deferring it would only make the trigger fire at once, and then Airflow's scheduler (3.1 to
        3.3) can take the late exit of the deferring process for an external kill of the resumed task
        and fail it (apache/airflow#67287, #72716): the e2e deployment met that on a re-attach.
        """
        if submission.how in ("created", "retriggered"):
            return None
        try:
            summary = self._summarize(self.hook.get_run(submission.run_id))
        except FlowServiceError as err:
            if err.status == 404:
                return None  # not visible yet: the trigger waits for it
            raise
        return summary if RunStatus.parse(summary["status"]).is_terminal() else None

    def on_kill(self) -> None:
        """Flow Service has no cancel endpoint: say so, so nobody assumes the ingestion stopped."""
        if self._run_id is not None:
            self.log.warning(
                "Task killed; flow run %s keeps running in AEP (Flow Service cannot cancel a run). A retry "
                "of this task re-attaches to it instead of starting another.",
                self._run_id,
            )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        """Resume after the trigger: same verdict as a wait in the worker."""
        # for OpenLineage; dag.test() (Airflow 3.3) resumes with the event alone, without the defer kwargs
        self._run_id = run_id or (event.get("run_id") if isinstance(event, dict) else None)
        return self._finish(context, validate_trigger_event(event, run_id))

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        """The flow's source and AEP datasets; no run exists yet (called again on resume after a deferral)."""
        return self._lineage.operator_lineage()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """The datasets, the rows and bytes the run wrote, and its id (see :mod:`airflow_flowrun.openlineage`)."""
        return self._lineage.operator_lineage(task_instance, self._known_run(task_instance))

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        """As on complete, with the run's error codes and messages when it ended."""
        return self._lineage.operator_lineage(task_instance, self._known_run(task_instance), failed=True)

    def _known_run(self, task_instance: Any) -> KnownRun | None:
        """``(summary, run id)`` when this object ran ``task_instance``; None: read them from XCom."""
        return (self._flow_run_summary, self._run_id) if getattr(task_instance, "task", None) is self else None

    def _finish(self, context: Context, summary: dict[str, Any]) -> str:
        ti = context["ti"]
        self._publish_links(ti, str(summary.get("flow_id") or self.flow_id), summary["run_id"])
        self._flow_run_summary = summary
        ti.xcom_push(key=SUMMARY_XCOM_KEY, value=summary)
        judge(summary, fail_on_row_errors=self.fail_on_row_errors, log=self.log)
        publish_run_assets(self, context, self.hook, summary)
        mark_finished(context.get("task_state_store"), summary["run_id"], max_tries=getattr(ti, "max_tries", None))
        return summary["run_id"]

    def _publish_links(self, ti: Any, flow_id: str, run_id: str) -> str:
        settings = self.hook.settings
        return publish_links(
            self, ti, ui_org=settings.ui_org, sandbox_name=settings.sandbox_name, flow_id=flow_id, run_id=run_id
        )

    def _summarize(self, run: dict[str, Any]) -> dict[str, Any]:
        settings = self.hook.settings
        return build_summary(run, ui_org=settings.ui_org, sandbox_name=settings.sandbox_name)


class AdobeTableFlowRunOperator(_AdobeFlowRunOperator):
    """Run a table-based source dataflow (CRM, database, ...) for a data window.

    :param delta_column: the source column that separates new from historic rows; required on the
        flow's first run, afterwards Flow Service keeps it (sending a different one is an error)
    """

    template_fields: Sequence[str] = (*_AdobeFlowRunOperator.template_fields, "delta_column")

    def __init__(self, *, delta_column: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta_column = delta_column

    def _delta_column(self) -> str | None:
        return self.delta_column


class AdobeFileFlowRunOperator(_AdobeFlowRunOperator):
    """Run a file-based (cloud storage) source dataflow: files last modified within the window are ingested."""

    def __init__(self, **kwargs: Any) -> None:
        if "delta_column" in kwargs:
            raise InvalidParameterError(
                "delta_column",
                kwargs["delta_column"],
                "file-based flows take no delta column (files are picked by modification time); "
                "use AdobeTableFlowRunOperator for table-based sources",
            )
        super().__init__(**kwargs)
