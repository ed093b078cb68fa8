"""Fan-out: one on-demand run per dataflow with dynamic task mapping, all for the same data window.

One mapped task per flow id; each waits in the triggerer. ``fail_on_row_errors=False`` lets a run
that ingested most records (``success`` with some failed rows) pass with a warning; the summary of
each run is XCom ``flow_run`` of its map index.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_flowrun.operators.flow_run import AdobeFileFlowRunOperator

FLOW_IDS = [
    "f11e5b7c-3c4d-4e8a-a2b1-7d9c0e4f5b02",  # emulator: cloud storage drops
    "0e770125-8c1d-4b2a-9e3f-5a6b7c8d9e04",  # emulator: events with some bad rows
]

with DAG(
    dag_id="example_aep_fan_out",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    tags=["example", "aep"],
    doc_md=__doc__,
) as dag:

    @task
    def flows_to_ingest() -> list[str]:
        """In a real DAG: read the list from a Variable, a config table or an upstream task."""
        return FLOW_IDS

    ingest = AdobeFileFlowRunOperator.partial(
        task_id="ingest",
        deferrable=True,
        poll_interval=5,
        fail_on_row_errors=False,
    ).expand(flow_id=flows_to_ingest())
