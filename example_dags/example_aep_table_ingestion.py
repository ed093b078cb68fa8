"""Daily ingestion of a table-based source (CRM, database, ...) into AEP.

Each DAG run asks Flow Service to ingest exactly its data interval, [data_interval_start,
data_interval_end), and waits in the worker until the run ends. The run id is the task's return
value; the run summary (records, files, bytes, batch ids, errors) is XCom ``flow_run``.

The default flow id is the emulator's seeded table flow: set the Airflow Variable
``aep_table_flow_id`` to your dataflow's id to ingest from your own source.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_flowrun.operators.flow_run import AdobeTableFlowRunOperator

with DAG(
    dag_id="example_aep_table_ingestion",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["example", "aep"],
    doc_md=__doc__,
) as dag:
    AdobeTableFlowRunOperator(
        task_id="ingest_crm_contacts",
        flow_id="{{ var.value.get('aep_table_flow_id', 'c1a19e2a-5ad6-4d2f-9b3a-6f1e0c7d2a01') }}",
        delta_column="updated_at",  # needed on the flow's first run; Flow Service keeps it afterwards
        poll_interval=5,
        timeout=timedelta(hours=2),
    )
