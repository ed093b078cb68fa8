"""e2e: an ingestion waiting in the worker (sync mode) with retries, which a drill kills mid-wait.

``conf = {"window_start": <epoch s>, "window_end": <epoch s>}``; the emulator keeps this flow's runs
in progress long enough for the kill to land while the try waits. Two DAGs, one per drill:

- ``e2e_sync_reattach``: the drill kills the task process; the retry must re-attach to the same run.
- ``e2e_worker_kill`` (CeleryExecutor only): the drill kills the whole Celery worker; the scheduler
  fails the orphaned try once its heartbeat times out, and the retry, on the other worker, must
  re-attach to the same run.

Either way: one run for the window, try 2, XCom ``return_value`` = that run's id.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG

from airflow_flowrun.operators.flow_run import AdobeTableFlowRunOperator

TUTORIAL_FLOW_ID = "3abea21c-7e36-4be1-bec1-d3bad0e3e0de"

for dag_id, task_id in (("e2e_sync_reattach", "ingest_sync"), ("e2e_worker_kill", "ingest_worker_kill")):
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 11, 1, tzinfo=UTC),
        catchup=False,
        tags=["e2e"],
        doc_md=__doc__,
    ):
        AdobeTableFlowRunOperator(
            task_id=task_id,
            flow_id=TUTORIAL_FLOW_ID,
            window_start="{{ dag_run.conf['window_start'] }}",
            window_end="{{ dag_run.conf['window_end'] }}",
            deferrable=False,
            poll_interval=2,
            timeout=timedelta(minutes=10),
            retries=2,
            retry_delay=timedelta(seconds=3),
        )
