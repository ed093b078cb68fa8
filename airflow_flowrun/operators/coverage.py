"""A check that a flow AEP runs itself ingested every part of a window, and each part once."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_flowrun.connection import DEFAULT_CONN_ID
from airflow_flowrun.coverage import describe_gap, describe_overlap, format_window, format_windows
from airflow_flowrun.exceptions import WindowCoverageError
from airflow_flowrun.links import AdobeFlowActivityLink, publish_links
from airflow_flowrun.task_window import check_window_pair, task_window
from airflow_flowrun.validation import check_uuid_unless_templated, validate_uuid

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook


class AdobeFlowWindowCoverageCheck(BaseOperator):
    """Fail unless the flow's succeeded runs ingested every part of the window, and (by default) each part once.

    Meant for flows AEP runs on its own schedule: a daily DAG can check that the day's hourly runs
    all landed, without gaps and without a window ingested twice (which duplicates event rows).
    The verdict follows :meth:`AdobeFlowServiceHook.window_coverage
    <airflow_flowrun.hooks.flow_service.AdobeFlowServiceHook.window_coverage>`. A failed check is an
    ordinary, retryable failure: AEP may still fill a gap (a run in progress, its next scheduled
    run, a re-run), so give the task retries to wait for that.

    :param flow_id: the dataflow id (a UUID; templated)
    :param window_start: start of the window to check (templated): aware datetime, epoch seconds
        or ISO-8601 with an offset. Default: the DAG run's ``data_interval_start``.
    :param window_end: end of the window, exclusive (templated). Default: ``data_interval_end``.
    :param allow_overlaps: pass even when part of the window was ingested more than once (the
        overlaps are still logged); right for flows whose target upserts (profiles), not for events
    :param aep_conn_id: the ``aep`` connection (templated)
    :return: the coverage report (XCom ``return_value``): ``{"covered", "gaps", "overlaps",
        "failed", "pending"}``, windows as ``[s, e]`` epoch seconds
    :raises WindowCoverageError: naming every gap (with the failed and unfinished runs that meet
        it) and, unless ``allow_overlaps``, every overlap with its run ids
    """

    template_fields: Sequence[str] = ("flow_id", "window_start", "window_end", "aep_conn_id")
    operator_extra_links = (AdobeFlowActivityLink(),)
    ui_color = "#fa0f00"

    def __init__(
        self,
        *,
        flow_id: str,
        window_start: Any = None,
        window_end: Any = None,
        allow_overlaps: bool = False,
        aep_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_uuid_unless_templated("flow_id", flow_id)
        check_window_pair(window_start, window_end)
        self.flow_id = flow_id
        self.window_start = window_start
        self.window_end = window_end
        self.allow_overlaps = allow_overlaps
        self.aep_conn_id = aep_conn_id

    @cached_property
    def hook(self) -> AdobeFlowServiceHook:
        from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

        return AdobeFlowServiceHook(aep_conn_id=self.aep_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        flow_id = validate_uuid("flow_id", self.flow_id)
        window = list(task_window(context, self.window_start, self.window_end))
        settings = self.hook.settings
        self.flow_activity_url = publish_links(
            self,
            context["ti"],
            ui_org=settings.ui_org,
            sandbox_name=settings.sandbox_name,
            flow_id=flow_id,
            run_id=None,
        )
        coverage = self.hook.window_coverage(flow_id, *window)
        self.log.info("%s", self._report(flow_id, window, coverage))
        failing_overlaps = [] if self.allow_overlaps else coverage["overlaps"]
        if coverage["gaps"] or failing_overlaps:
            problems = [describe_gap(gap, coverage) for gap in coverage["gaps"]]
            problems += [describe_overlap(overlap) for overlap in failing_overlaps]
            listed = "".join(f"\n- {problem}" for problem in problems)
            raise WindowCoverageError(
                f"Flow {flow_id} did not ingest {format_window(window)} exactly once:{listed}\n"
                f"Runs: {self.flow_activity_url}",
                gaps=coverage["gaps"],
                overlaps=failing_overlaps,
            )
        return coverage

    def _report(self, flow_id: str, window: list[int], coverage: dict[str, Any]) -> str:
        """The coverage for the task log, whatever the verdict."""
        overlaps = [describe_overlap(overlap) for overlap in coverage["overlaps"]]
        allowed = " (allowed)" if self.allow_overlaps and overlaps else ""
        runs = [f"{entry['run_id']} {format_window(entry['window'])}" for entry in coverage["failed"]]
        pending = [f"{entry['run_id']} {format_window(entry['window'])}" for entry in coverage["pending"]]
        return "\n".join(
            [
                f"Coverage of flow {flow_id} for {format_window(window)}:",
                f"  covered: {format_windows(coverage['covered'])}",
                f"  gaps: {format_windows(coverage['gaps'])}",
                f"  overlaps{allowed}: {'; '.join(overlaps) or 'none'}",
                f"  failed runs: {'; '.join(runs) or 'none'}",
                f"  unfinished runs: {'; '.join(pending) or 'none'}",
                f"  runs page: {self.flow_activity_url}",
            ]
        )
