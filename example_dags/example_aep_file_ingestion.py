"""Hourly ingestion of the files that landed in cloud storage during the hour, waiting in the triggerer.

File-based sources pick files by last-modified time within the window; they take no delta column.
``deferrable=True`` frees the worker slot while the run is in progress: the triggerer polls it.
Set the Airflow Variable ``aep_file_flow_id`` to use your own dataflow.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_flowrun.operators.flow_run import AdobeFileFlowRunOperator

with DAG(
    dag_id="example_aep_file_ingestion",
    schedule=CronDataIntervalTimetable("@hourly", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["example", "aep"],
    doc_md=__doc__,
) as dag:
    AdobeFileFlowRunOperator(
        task_id="ingest_landing_files",
        flow_id="{{ var.value.get('aep_file_flow_id', 'f11e5b7c-3c4d-4e8a-a2b1-7d9c0e4f5b02') }}",
        deferrable=True,
        poll_interval=5,
    )
