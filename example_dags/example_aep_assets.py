"""Data-aware scheduling on what AEP ingested: a producer DAG whose ingestions update assets, and a
consumer DAG that starts when both have landed and reads what each run delivered.

``example_aep_assets`` ingests its data interval from a table source (waiting in the worker) and a
file source (deferred to the triggerer). Each task has an asset in ``outlets``: when its run
succeeds, the asset event's ``extra`` carries the run's essentials (run id, flow id, window, records
in / out / failed, files, bytes, batch ids, UI link). The table ingestion also has an
``AssetAlias``: through it, the task emits one ``aep://<org>/<sandbox>/datasets/<dataset id>`` asset
per AEP dataset the flow writes, read from the flow's target connection.

``example_aep_assets_consumer`` is scheduled on both assets: it runs once both have new events and
reads them from ``triggering_asset_events``, e.g. to start the profile or segment jobs that depend
on those batches.

The flow ids default to the emulator's seeded flows; set the Airflow Variables ``aep_table_flow_id``
and ``aep_events_flow_id`` to use your own.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, AssetAlias, task
from airflow.timetables.interval import CronDataIntervalTimetable

from airflow_flowrun.operators.flow_run import AdobeFileFlowRunOperator, AdobeTableFlowRunOperator

CONTACTS_LANDED = Asset("aep_crm_contacts_landed")
EVENTS_LANDED = Asset("aep_storage_events_landed")
AEP_DATASETS = AssetAlias("aep_datasets")

with DAG(
    dag_id="example_aep_assets",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["example", "aep", "assets"],
    doc_md=__doc__,
) as producer:
    AdobeTableFlowRunOperator(
        task_id="ingest_crm_contacts",
        flow_id="{{ var.value.get('aep_table_flow_id', 'c1a19e2a-5ad6-4d2f-9b3a-6f1e0c7d2a01') }}",
        delta_column="updated_at",
        poll_interval=5,
        outlets=[CONTACTS_LANDED, AEP_DATASETS],
    )
    AdobeFileFlowRunOperator(
        task_id="ingest_storage_events",
        flow_id="{{ var.value.get('aep_events_flow_id', '0e770125-8c1d-4b2a-9e3f-5a6b7c8d9e04') }}",
        deferrable=True,
        poll_interval=5,
        outlets=[EVENTS_LANDED],
    )

log = logging.getLogger(__name__)
#: What the consumer keeps of each triggering event's ``extra``.
LANDED_FIELDS = ("run_id", "flow_id", "window_start", "window_end", "output_records", "failed_records", "batch_ids")

with DAG(
    dag_id="example_aep_assets_consumer",
    schedule=[CONTACTS_LANDED, EVENTS_LANDED],
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    tags=["example", "aep", "assets"],
    doc_md=__doc__,
) as consumer:

    @task
    def report_what_landed(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One line per triggering event: which run landed what, and the batches to look at in AEP."""
        landed = []
        for asset, events in (triggering_asset_events or {}).items():
            for event in events:
                extra = event.extra or {}
                log.info(
                    "%s: flow run %s of flow %s landed %s records (%s failed) in batches %s",
                    asset.name, extra.get("run_id"), extra.get("flow_id"), extra.get("output_records"),
                    extra.get("failed_records"), ", ".join(extra.get("batch_ids") or []),
                )  # fmt: skip
                landed.append({"asset": asset.name, **{field: extra.get(field) for field in LANDED_FIELDS}})
        return landed

    report_what_landed()
