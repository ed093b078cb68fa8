"""e2e: a DAG scheduled on an asset watched by ``AdobeFlowRunEventTrigger`` on a flow AEP runs itself.

The driver makes the emulator run the recurring flow every few seconds (its own schedule: no task
creates these runs), restarts the triggerer between two of them, and checks that this DAG ran once
per run of the flow, each time with that run's summary as the triggering event's payload.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_flowrun.triggers.flow_run_events import AdobeFlowRunEventTrigger

RECURRING_FLOW_ID = "da117000-2f3e-4a5b-8c6d-7e8f9a0b1c05"

RECURRING_FLOW_INGESTED = Asset(
    "e2e_recurring_flow_ingested",
    watchers=[
        AssetWatcher(
            name="e2e_recurring_flow_runs",
            trigger=AdobeFlowRunEventTrigger(flow_id=RECURRING_FLOW_ID, poll_interval=2),
        )
    ],
)

with DAG(
    dag_id="e2e_event_trigger",
    schedule=[RECURRING_FLOW_INGESTED],
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    tags=["e2e"],
    doc_md=__doc__,
) as dag:

    @task
    def read_flow_runs(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """The payload of every event that started this DAG run: the summaries of the runs that ended."""
        return [event.extra["payload"] for events in (triggering_asset_events or {}).values() for event in events]

    read_flow_runs()
