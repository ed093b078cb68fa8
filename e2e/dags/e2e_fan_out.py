"""e2e: one deferrable ingestion per hourly window of one file flow, mapped over ``conf["windows"]`` windows.

``conf = {"window_start": <epoch s>, "windows": 200}``: window i is
``[window_start + 3600 i, window_start + 3600 (i + 1))``, so the flow's window report must show one
run per hour, no gap and no overlap, whatever the triggerer and the scheduler went through.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_flowrun.operators.flow_run import AdobeFileFlowRunOperator

FILE_FLOW_ID = "f11e5b7c-3c4d-4e8a-a2b1-7d9c0e4f5b02"

with DAG(
    dag_id="e2e_fan_out",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    max_active_tasks=512,
    tags=["e2e"],
    doc_md=__doc__,
) as dag:

    @task
    def hourly_windows(dag_run: Any = None) -> list[dict[str, int]]:
        start, count = int(dag_run.conf["window_start"]), int(dag_run.conf["windows"])
        return [{"window_start": start + 3600 * i, "window_end": start + 3600 * (i + 1)} for i in range(count)]

    AdobeFileFlowRunOperator.partial(
        task_id="ingest",
        flow_id=FILE_FLOW_ID,
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(minutes=20),
        retries=2,
        retry_delay=timedelta(seconds=3),
    ).expand_kwargs(hourly_windows())
