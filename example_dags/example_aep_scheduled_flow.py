"""A daily pipeline on top of a dataflow that AEP runs on its own schedule (hourly, say).

Flow Service refuses on-demand runs of a scheduled flow (``FLOW-1386-400``), so this DAG does not
start ingestion: it waits for it, then checks it.

- ``wait_for_the_day`` waits, in the triggerer, until the flow's succeeded runs together cover the
  DAG run's data interval with no gap (24 hourly runs for a daily interval), and fails when a run
  failed and nothing covers its hours. It returns the covering runs' ids; XCom ``flow_runs`` holds
  their summaries (records, files, batches, errors).
- ``check_each_hour_once`` fails the DAG run naming every gap and every overlap: an hour ingested
  twice duplicates the rows of an event dataset.
- ``report`` reads the summaries, as a downstream task would.

The default flow id is the emulator's recurring flow (``python -m airflow_flowrun.emulator --schedule
da117000-2f3e-4a5b-8c6d-7e8f9a0b1c05=3600`` runs it hourly); set the Airflow Variable
``aep_scheduled_flow_id`` to your dataflow's id to watch your own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_flowrun.operators.coverage import AdobeFlowWindowCoverageCheck
from airflow_flowrun.sensors.flow_run import AdobeFlowRunSensor

FLOW_ID = "{{ var.value.get('aep_scheduled_flow_id', 'da117000-2f3e-4a5b-8c6d-7e8f9a0b1c05') }}"

with DAG(
    dag_id="example_aep_scheduled_flow",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    tags=["example", "aep"],
    doc_md=__doc__,
) as dag:
    wait_for_the_day = AdobeFlowRunSensor(
        task_id="wait_for_the_day",
        flow_id=FLOW_ID,  # the window defaults to the data interval
        deferrable=True,
        poke_interval=300,
        timeout=timedelta(hours=6),
    )
    check_each_hour_once = AdobeFlowWindowCoverageCheck(task_id="check_each_hour_once", flow_id=FLOW_ID)

    @task
    def report(flow_runs: list[dict[str, Any]]) -> dict[str, Any]:
        """What the day brought: the runs, and the records they wrote and failed."""
        return {
            "runs": len(flow_runs),
            "output_records": sum(run["output_records"] or 0 for run in flow_runs),
            "failed_records": sum(run["failed_records"] or 0 for run in flow_runs),
        }

    wait_for_the_day >> check_each_hour_once
    check_each_hour_once >> report(wait_for_the_day.output["flow_runs"])  # type: ignore[index]
