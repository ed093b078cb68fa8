"""A sensor that waits for a flow run created elsewhere (another task, another DAG, the AEP UI)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator

from airflow_flowrun._compat import conf
from airflow_flowrun.connection import DEFAULT_CONN_ID
from airflow_flowrun.exceptions import FlowServiceError
from airflow_flowrun.links import UI_URL_XCOM_KEY, AdobeFlowRunLink
from airflow_flowrun.outcome import is_not_visible_yet, judge, validate_trigger_event
from airflow_flowrun.status import RunStatus
from airflow_flowrun.summary import build_summary
from airflow_flowrun.validation import validate_uuid

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

SUMMARY_XCOM_KEY = "flow_run"


class AdobeFlowRunSensor(BaseSensorOperator):
    """Wait until a flow run ends: done on ``success``, :class:`FlowRunFailedError` on ``failed``.

    Poke, reschedule and deferrable modes give the same outcome. The run summary is pushed as XCom
    ``flow_run``. A 404 during the first minute of waiting counts as "not visible yet".

    :param run_id: the flow run id (templated), e.g. ``"{{ ti.xcom_pull(task_ids='ingest') }}"``
    :param aep_conn_id: the ``aep`` connection
    :param fail_on_row_errors: fail when a ``success`` run reports failed records or errors
    :param deferrable: wait in the triggerer instead of a worker slot
    """

    template_fields: Sequence[str] = ("run_id",)
    operator_extra_links = (AdobeFlowRunLink(),)
    ui_color = "#fa0f00"

    def __init__(
        self,
        *,
        run_id: str,
        aep_conn_id: str = DEFAULT_CONN_ID,
        fail_on_row_errors: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(run_id, str) and "{{" not in run_id:
            validate_uuid("run_id", run_id)
        self.run_id = run_id
        self.aep_conn_id = aep_conn_id
        self.fail_on_row_errors = fail_on_row_errors
        self.deferrable = deferrable
        self._first_poke_at: float | None = None

    @cached_property
    def hook(self) -> AdobeFlowServiceHook:
        from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

        return AdobeFlowServiceHook(aep_conn_id=self.aep_conn_id)

    def execute(self, context: Context) -> Any:
        run_id = validate_uuid("run_id", self.run_id)
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        from airflow_flowrun.triggers.flow_run import AdobeFlowRunTrigger

        self.defer(
            trigger=AdobeFlowRunTrigger(
                run_id=run_id,
                aep_conn_id=self.aep_conn_id,
                poll_interval=self.poke_interval,
                end_time=time.time() + self.timeout,
                created_at=time.time(),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + 10 * self.poke_interval + 60),
        )

    def poke(self, context: Context) -> bool:
        run_id = validate_uuid("run_id", self.run_id)
        try:
            run = self.hook.get_run(run_id)
        except FlowServiceError as err:
            if is_not_visible_yet(err, self._waiting_since(context)):
                self.log.info("Flow run %s is not visible yet; waiting", run_id)
                return False
            raise
        status = RunStatus.of_run(run)
        if not status.is_terminal():
            self.log.info("Flow run %s is %s", run_id, status.value)
            return False
        self._finish(context, self._summarize(run))
        return True

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        """Resume after the trigger: same verdict as a poke."""
        self._finish(context, validate_trigger_event(event, validate_uuid("run_id", self.run_id)))

    def _finish(self, context: Context, summary: dict[str, Any]) -> None:
        ti = context["ti"]
        ti.xcom_push(key=SUMMARY_XCOM_KEY, value=summary)
        ti.xcom_push(key=UI_URL_XCOM_KEY, value=summary["ui_url"])
        judge(summary, fail_on_row_errors=self.fail_on_row_errors, log=self.log)

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
