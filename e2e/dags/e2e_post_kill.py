"""e2e: one ingestion whose first try the drill kills between ``POST /runs`` and storing the run id.

``conf = {"window_start": <epoch s>, "window_end": <epoch s>}``. The emulator holds the answer of
that POST (fault ``commit_then_delay``) while the run already exists; the try dies waiting for it,
and the retry must adopt that run instead of creating another.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG

from airflow_flowrun.operators.flow_run import AdobeTableFlowRunOperator

TABLE_FLOW_ID = "c1a19e2a-5ad6-4d2f-9b3a-6f1e0c7d2a01"

with DAG(
    dag_id="e2e_post_kill",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    tags=["e2e"],
    doc_md=__doc__,
) as dag:
    AdobeTableFlowRunOperator(
        task_id="ingest_post_kill",
        flow_id=TABLE_FLOW_ID,
        window_start="{{ dag_run.conf['window_start'] }}",
        window_end="{{ dag_run.conf['window_end'] }}",
        delta_column="updated_at",
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(minutes=10),
        retries=2,
        retry_delay=timedelta(seconds=3),
    )
