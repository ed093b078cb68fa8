"""Which DAG runs the e2e triggers, and which (flow, window) each ingestion must end up with.

Windows are laid out so that every flow's ingested windows are contiguous and disjoint: the
emulator's window report of each flow must then show no gap and no overlap, and a duplicate or a
lost ingestion shows as one. They are whole days (hours for the fan-out) starting 20 days ago.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from deployment import FILE_FLOW_ID, ROW_ERRORS_FLOW_ID, TABLE_FLOW_ID, TUTORIAL_FLOW_ID

DAY, HOUR = 86400, 3600
FAN_OUT_WINDOWS = 200
#: Scheduled by the scheduler on the assets ``example_aep_assets`` updates, not triggered by the e2e.
ASSET_CONSUMER = "example_aep_assets_consumer"
Window = tuple[int, int]


@dataclass(frozen=True)
class Ingestion:
    """A task that must end with one run of ``flow_id`` for ``window``; ``summary_task`` pushes ``flow_run``."""

    task_id: str
    flow_id: str
    window: Window
    map_index: int = -1
    summary_task: str | None = None

    @property
    def waiting_task(self) -> str:
        return self.summary_task or self.task_id


@dataclass(frozen=True)
class PlannedRun:
    dag_id: str
    run_id: str
    body: dict[str, Any]
    ingestions: list[Ingestion] = field(default_factory=list)


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _interval(start: int, end: int) -> dict[str, Any]:
    """A trigger body for a scheduled example: logical date and data interval given explicitly."""
    return {"logical_date": _iso(start), "data_interval_start": _iso(start), "data_interval_end": _iso(end)}


def _conf(start: int, end: int) -> dict[str, Any]:
    return {"logical_date": None, "conf": {"window_start": start, "window_end": end}}


def build_plan(executor: str, now: float | None = None) -> dict[str, PlannedRun]:
    """Every planned DAG run by dag id (``e2e_worker_kill`` only under Celery)."""
    base = (int(now if now is not None else time.time()) // DAY - 20) * DAY
    day = [(base + i * DAY, base + (i + 1) * DAY) for i in range(4)]
    fan_out_start = base + DAY
    hourly = [(fan_out_start + i * HOUR, fan_out_start + (i + 1) * HOUR) for i in range(FAN_OUT_WINDOWS)]
    file_hour = (hourly[-1][1], hourly[-1][1] + HOUR)
    day_before = (base - DAY, base)  # the assets example: contiguous with the table and row-error flows' days
    runs = [
        PlannedRun(
            "example_aep_assets", "e2e_assets", _interval(*day_before),
            [
                Ingestion("ingest_crm_contacts", TABLE_FLOW_ID, day_before),
                Ingestion("ingest_storage_events", ROW_ERRORS_FLOW_ID, day_before),
            ],
        ),
        PlannedRun(
            "example_aep_table_ingestion", "e2e_table", _interval(*day[0]),
            [Ingestion("ingest_crm_contacts", TABLE_FLOW_ID, day[0])],
        ),
        PlannedRun(
            "example_aep_pipeline", "e2e_pipeline", _interval(*day[1]),
            [Ingestion("ingest", TABLE_FLOW_ID, day[1], summary_task="wait_for_ingestion")],
        ),
        PlannedRun(
            "e2e_post_kill", "e2e_post_kill", _conf(*day[2]),
            [Ingestion("ingest_post_kill", TABLE_FLOW_ID, day[2])],
        ),
        PlannedRun(
            "e2e_reschedule", "e2e_reschedule", _conf(*day[3]),
            [Ingestion("ingest", TABLE_FLOW_ID, day[3], summary_task="wait_for_ingestion")],
        ),
        PlannedRun(
            "e2e_sync_reattach", "e2e_sync_reattach", _conf(*day[0]),
            [Ingestion("ingest_sync", TUTORIAL_FLOW_ID, day[0])],
        ),
        PlannedRun(
            "example_aep_fan_out", "e2e_example_fan_out", _interval(*day[0]),
            [Ingestion("ingest", FILE_FLOW_ID, day[0], 0), Ingestion("ingest", ROW_ERRORS_FLOW_ID, day[0], 1)],
        ),
        PlannedRun(
            "e2e_fan_out", "e2e_fan_out",
            {"logical_date": None, "conf": {"window_start": fan_out_start, "windows": FAN_OUT_WINDOWS}},
            [Ingestion("ingest", FILE_FLOW_ID, window, index) for index, window in enumerate(hourly)],
        ),
        PlannedRun(
            "example_aep_file_ingestion", "e2e_file_ingestion", _interval(*file_hour),
            [Ingestion("ingest_landing_files", FILE_FLOW_ID, file_hour)],
        ),
    ]  # fmt: skip
    if executor == "celery":
        runs.append(
            PlannedRun(
                "e2e_worker_kill", "e2e_worker_kill", _conf(*day[1]),
                [Ingestion("ingest_worker_kill", TUTORIAL_FLOW_ID, day[1])],
            )
        )  # fmt: skip
    return {run.dag_id: run for run in runs}


def windows_by_flow(plan: dict[str, PlannedRun]) -> dict[str, list[Window]]:
    """The windows each flow must have been ingested for, sorted."""
    flows: dict[str, list[Window]] = {}
    for run in plan.values():
        for ingestion in run.ingestions:
            flows.setdefault(ingestion.flow_id, []).append(ingestion.window)
    return {flow_id: sorted(windows) for flow_id, windows in flows.items()}
