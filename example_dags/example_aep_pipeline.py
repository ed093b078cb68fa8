"""Ingestion as one step of a larger pipeline: prepare -> ingest -> wait -> check.

The operator only creates the run (``wait_for_completion=False``) and returns its id; a sensor in
reschedule mode waits without holding a worker slot between checks; a downstream task reads the
sensor's ``flow_run`` summary and refuses a run that ingested nothing.

Every task has retries, and the sensor checks every 30 s, not every few seconds: on a real
deployment Airflow itself can fail a reschedule-mode sensor when the executor's report of one poke
reaches the scheduler after the next poke was queued (apache/airflow#71172, "finished with state
success, but the task instance's state attribute is queued"); the shorter the interval, the more
often. A retry is harmless here: the sensor reads the same run again, and the operator re-attaches
to the run it created instead of creating another. ``deferrable=True`` avoids that path altogether.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_flowrun.operators.flow_run import AdobeTableFlowRunOperator
from airflow_flowrun.sensors.flow_run import AdobeFlowRunSensor

with DAG(
    dag_id="example_aep_pipeline",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    tags=["example", "aep"],
    doc_md=__doc__,
    default_args={"retries": 3, "retry_delay": timedelta(seconds=15)},
) as dag:

    @task
    def prepare(data_interval_start: Any = None, data_interval_end: Any = None) -> dict[str, str]:
        """Stand-in for the upstream work that fills the source table for the interval."""
        return {"window_start": data_interval_start.isoformat(), "window_end": data_interval_end.isoformat()}

    window = prepare()

    ingest = AdobeTableFlowRunOperator(
        task_id="ingest",
        flow_id="{{ var.value.get('aep_table_flow_id', 'c1a19e2a-5ad6-4d2f-9b3a-6f1e0c7d2a01') }}",
        window_start="{{ ti.xcom_pull(task_ids='prepare')['window_start'] }}",
        window_end="{{ ti.xcom_pull(task_ids='prepare')['window_end'] }}",
        delta_column="updated_at",
        wait_for_completion=False,
    )

    wait = AdobeFlowRunSensor(
        task_id="wait_for_ingestion",
        run_id="{{ ti.xcom_pull(task_ids='ingest') }}",
        mode="reschedule",
        poke_interval=30,
        timeout=timedelta(hours=2).total_seconds(),
    )

    @task
    def check(flow_run: dict[str, Any]) -> int:
        """Downstream quality gate on what AEP reports it ingested."""
        if not flow_run["output_records"]:
            raise ValueError(f"flow run {flow_run['run_id']} ingested no records: {flow_run['ui_url']}")
        print(f"AEP ingested {flow_run['output_records']} records into batches {flow_run['batch_ids']}")
        return flow_run["output_records"]

    window >> ingest >> wait
    check(wait.output["flow_run"])
