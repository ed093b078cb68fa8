"""Start a DAG each time AEP has ingested, for a dataflow that runs on AEP's own schedule.

Flow Service refuses on-demand runs of a dataflow scheduled in AEP (hourly, daily, ...), so no task
of yours creates its runs or knows their ids. Watch the flow instead: the asset below has a watcher,
``AdobeFlowRunEventTrigger``, which lists the flow's runs in the triggerer every ``poll_interval``
seconds and fires one event per run that ends ``success`` (pass ``statuses=("success", "failed")``
to hear about failures too). ``example_aep_event_trigger`` is scheduled on that asset: it runs once
per ingested run and reads the run's summary (the ``flow_run`` summary the operators push: window,
records, files, bytes, batch ids, errors, UI link) from ``triggering_asset_events``, each event's
``extra`` being ``{"from_trigger": True, "payload": <summary>}``.

What to know before using it:

- Put your dataflow's id in ``FLOW_ID`` (the default is the emulator's seeded daily flow). The
  trigger's arguments are read when this file is parsed: plain values, not templates or Variables.
- Airflow runs the watcher while this DAG is unpaused; the runs that ended before it first started
  never fire. On Airflow 3.3 the watcher keeps its position in the asset's state store: a triggerer
  restart neither loses nor repeats runs, and runs that ended while it was down fire once it is back.
  Airflow 3.1 and 3.2 keep it in memory: runs that end while the triggerer is down are missed.
- Delivery is at least once: a triggerer killed a few seconds after an event may fire that run again.
  The run id tells a repeat apart; make what this DAG starts idempotent on it.
- While the scheduler is busy, several events can start one DAG run: handle every event of the list.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_flowrun.triggers.flow_run_events import AdobeFlowRunEventTrigger

#: The dataflow to watch: the emulator's seeded "CRM daily sync" flow; put your own dataflow id here.
FLOW_ID = "da117000-2f3e-4a5b-8c6d-7e8f9a0b1c05"
#: What the DAG keeps of each run's summary.
ESSENTIALS = ("run_id", "status", "window_start", "window_end", "output_records", "failed_records", "batch_ids")

CRM_SYNC_INGESTED = Asset(
    "aep_crm_daily_sync_ingested",
    watchers=[
        AssetWatcher(
            name="aep_crm_daily_sync_runs",
            trigger=AdobeFlowRunEventTrigger(flow_id=FLOW_ID, poll_interval=30),
        )
    ],
)

log = logging.getLogger(__name__)

with DAG(
    dag_id="example_aep_event_trigger",
    schedule=[CRM_SYNC_INGESTED],
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    tags=["example", "aep", "assets"],
    doc_md=__doc__,
) as dag:

    @task
    def report_ingested_runs(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One line per flow run that started this DAG run, with what it ingested; returns their essentials."""
        runs = []
        for events in (triggering_asset_events or {}).values():
            for event in events:
                summary = (event.extra or {}).get("payload") or {}
                log.info(
                    "Flow run %s ended %s: window %s-%s, %s records ingested, %s failed, batches %s. See %s",
                    summary.get("run_id"), summary.get("status"), summary.get("window_start"),
                    summary.get("window_end"), summary.get("output_records"), summary.get("failed_records"),
                    ", ".join(summary.get("batch_ids") or []) or "-", summary.get("ui_url"),
                )  # fmt: skip
                runs.append({field: summary.get(field) for field in ESSENTIALS})
        return runs

    report_ingested_runs()
