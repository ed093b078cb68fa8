"""e2e (CeleryExecutor only): a sync-mode wait whose whole Celery worker the drill kills mid-wait.

``conf = {"window_start": <epoch s>, "window_end": <epoch s>}``. The scheduler fails the orphaned try
once its heartbeat times out; the retry runs on the other worker and must re-attach to the same run
(one run for the window, try 2, XCom ``return_value`` = that run's id).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG

from airflow_flowrun.operators.flow_run import AdobeTableFlowRunOperator

TUTORIAL_FLOW_ID = "3abea21c-7e36-4be1-bec1-d3bad0e3e0de"

with DAG(
    dag_id="e2e_worker_kill",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    tags=["e2e"],
    doc_md=__doc__,
) as dag:
    AdobeTableFlowRunOperator(
        task_id="ingest_worker_kill",
        flow_id=TUTORIAL_FLOW_ID,
        window_start="{{ dag_run.conf['window_start'] }}",
        window_end="{{ dag_run.conf['window_end'] }}",
        deferrable=False,
        poll_interval=2,
        timeout=timedelta(minutes=10),
        retries=2,
        retry_delay=timedelta(seconds=3),
    )
