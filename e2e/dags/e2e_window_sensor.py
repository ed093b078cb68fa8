"""e2e: a sensor that starts in the triggerer and waits for a window of a flow AEP runs itself.

The driver triggers it with the window of the recurring flow's first two scheduled runs in the DAG
run's conf; the sensor (``start_from_trigger``) never takes a worker slot to wait: the triggerer
renders its templated window and waits, across the triggerer kill -9 between those two runs, and the
worker only resumes it to push the covering runs' ids and summaries.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG

from airflow_flowrun.sensors.flow_run import AdobeFlowRunSensor

RECURRING_FLOW_ID = "da117000-2f3e-4a5b-8c6d-7e8f9a0b1c05"

with DAG(
    dag_id="e2e_window_sensor",
    schedule=None,
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    tags=["e2e"],
    doc_md=__doc__,
) as dag:
    AdobeFlowRunSensor(
        task_id="wait_for_window",
        flow_id=RECURRING_FLOW_ID,
        window_start="{{ dag_run.conf['window_start'] }}",
        window_end="{{ dag_run.conf['window_end'] }}",
        deferrable=True,
        start_from_trigger=True,
        poke_interval=2,
        timeout=600,
    )
