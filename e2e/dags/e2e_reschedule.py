"""e2e: create a run without waiting, then wait for it with the sensor in reschedule mode.

``conf = {"window_start": <epoch s>, "window_end": <epoch s>}``. Between two pokes the sensor holds
no worker slot; each poke is a new task process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG

from airflow_flowrun.operators.flow_run import AdobeTableFlowRunOperator
from airflow_flowrun.sensors.flow_run import AdobeFlowRunSensor

TABLE_FLOW_ID = "c1a19e2a-5ad6-4d2f-9b3a-6f1e0c7d2a01"

with DAG(
    dag_id="e2e_reschedule",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=3)},
    tags=["e2e"],
    doc_md=__doc__,
) as dag:
    ingest = AdobeTableFlowRunOperator(
        task_id="ingest",
        flow_id=TABLE_FLOW_ID,
        window_start="{{ dag_run.conf['window_start'] }}",
        window_end="{{ dag_run.conf['window_end'] }}",
        delta_column="updated_at",
        wait_for_completion=False,
    )
    wait = AdobeFlowRunSensor(
        task_id="wait_for_ingestion",
        run_id="{{ ti.xcom_pull(task_ids='ingest') }}",
        mode="reschedule",
        poke_interval=3,
        timeout=timedelta(minutes=10).total_seconds(),
    )
    ingest >> wait
