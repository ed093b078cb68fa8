"""A dataflow held by the emulator: its definition, stored delta column and run behaviour."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from typing import Any

from airflow_flowrun.emulator.connections import connection_id
from airflow_flowrun.emulator.runs import Run, etag_for, to_ms
from airflow_flowrun.emulator.seeds import CLIENT_ID, FLOW_SPEC_NAMES, ORG_ID, OUTCOMES, FlowDefinition
from airflow_flowrun.emulator.source import check_counts, source_totals


@dataclass
class FlowRecord:
    """A flow's mutable side: stored delta column, how many run executions it has had, and the
    metrics its next runs report instead of the deterministic ones (``counts``).

    :param definition: what the flow reads and how its runs behave (replaced by
        :meth:`configure`).
    :param seq: position among the emulator's flows, the tie-breaker when listing.
    :param created_at: epoch seconds.
    """

    definition: FlowDefinition
    seq: int
    created_at: float
    delta_column: str | None = None
    executions: int = 0
    version: int = 0
    updated_at: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.delta_column = self.definition.delta_column
        self.updated_at = self.updated_at or self.created_at

    def next_outcome(self) -> str:
        """Count one more run execution and say how it will end (``fail_first`` first)."""
        self.executions += 1
        if self.executions <= self.definition.fail_first:
            return "failed"
        return self.definition.outcome

    def store_delta_column(self, name: str, now: float) -> None:
        """Patch the delta column into the flow's ``Copy`` transformation (first run only)."""
        self.delta_column = name
        self.version += 1
        self.updated_at = now

    def configure(
        self,
        *,
        duration: float | None = None,
        outcome: str | None = None,
        fail_first: int | None = None,
        counts: dict[str, int] | None = None,
    ) -> None:
        """Change how the flow's next runs behave; None leaves a setting as it is.

        :param duration: seconds a run stays ``inProgress`` (must be >= 0).
        :param outcome: ``"success"``, ``"failed"`` or ``"partial"``.
        :param fail_first: the first N executions (counted from the flow's start, re-triggers
            included) fail.
        :param counts: metrics (:data:`~.source.COUNT_KEYS`) the flow's next runs report instead
            of the deterministic ones, failed records included; ``{}`` goes back to those.
        """
        changes: dict[str, Any] = {}
        if duration is not None:
            if duration < 0:
                raise ValueError(f"duration must be >= 0, got {duration!r}")
            changes["duration"] = float(duration)
        if outcome is not None:
            if outcome not in OUTCOMES:
                raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
            changes["outcome"] = outcome
        if fail_first is not None:
            if fail_first < 0:
                raise ValueError(f"fail_first must be >= 0, got {fail_first!r}")
            changes["fail_first"] = int(fail_first)
        checked_counts = None if counts is None else check_counts(counts)
        self.definition = dataclasses.replace(self.definition, **changes)
        if checked_counts is not None:
            self.counts = checked_counts

    def new_run(
        self,
        seq: int,
        *,
        params: dict[str, Any],
        created_at: float,
        outcome: str,
        duration: float,
        sandbox: str,
        created_by: str = CLIENT_ID,
        started_at: float | None = None,
        visible_at: float | None = None,
        counts: dict[str, int] | None = None,
    ) -> Run:
        """A run of this flow over ``params``' window (the caller stores it).

        :param seq: its creation number in the emulator.
        :param params: the params the run echoes (``windowStartTime``/``windowEndTime`` ints).
        :param started_at: when it leaves ``scheduled``; default ``created_at``.
        :param visible_at: when the API starts showing it; default ``created_at``.
        :param counts: metric overrides; default the flow's (:attr:`counts`).
        """
        definition = self.definition
        window_start, window_end = params["windowStartTime"], params["windowEndTime"]
        return Run(
            run_id=str(uuid.uuid4()),
            flow_id=definition.flow_id,
            seq=seq,
            kind=definition.kind,
            flow_spec_id=definition.flow_spec_id,
            sandbox=sandbox,
            created_at=created_at,
            window_start=window_start,
            window_end=window_end,
            params=params,
            totals=source_totals(definition.flow_id, definition.kind, window_start, window_end),
            started_at=created_at if started_at is None else started_at,
            duration=duration,
            outcome=outcome,
            visible_at=created_at if visible_at is None else visible_at,
            created_by=created_by,
            counts=dict(self.counts if counts is None else counts),
        )

    def settings(self) -> dict[str, Any]:
        """The emulator-side settings of the flow (not part of the Flow Service API)."""
        definition = self.definition
        return {
            "flow_id": definition.flow_id,
            "kind": definition.kind,
            "frequency": definition.frequency,
            "state": definition.state,
            "delta_column": self.delta_column,
            "duration": definition.duration,
            "outcome": definition.outcome,
            "fail_first": definition.fail_first,
            "counts": dict(self.counts),
            "interval": definition.interval,
            "executions": self.executions,
        }


def _last_run_details(run: Run | None, now: float) -> dict[str, Any]:
    if run is None:
        return {}
    details: dict[str, Any] = {"id": run.run_id, "state": run.status(now)}
    if now >= run.started_at:
        details["startedAtUTC"] = to_ms(run.started_at)
    if now >= run.completed_at:
        details["completedAtUTC"] = to_ms(run.completed_at)
    return details


def flow_view(flow: FlowRecord, last_run: Run | None, now: float, schedule_start: int | None = None) -> dict[str, Any]:
    """The flow object as ``GET /flows/{id}`` returns it.

    :param schedule_start: where the flow's emulated schedule begins, when it has one: the
        ``scheduleParams.startTime`` it shows (else the flow's creation).
    """
    definition = flow.definition
    copy_params: dict[str, Any] = {}
    if flow.delta_column is not None:
        copy_params["deltaColumn"] = {"name": flow.delta_column}
    start = int(flow.created_at) if schedule_start is None else schedule_start
    schedule: dict[str, Any] = {"startTime": str(start), "frequency": definition.frequency}
    if definition.frequency != "once":
        schedule["interval"] = str(definition.interval)
    return {
        "id": definition.flow_id,
        "name": definition.name,
        "description": f"Emulated {FLOW_SPEC_NAMES[definition.flow_spec_id]} dataflow",
        "flowSpec": {"id": definition.flow_spec_id, "version": "1.0"},
        "state": definition.state,
        "version": f'"{flow.version}"',
        "etag": etag_for(definition.flow_id, flow.version, definition.state),
        "sourceConnectionIds": [connection_id("source", definition.flow_id)],
        "targetConnectionIds": [connection_id("target", definition.flow_id)],
        "transformations": [
            {"name": "Copy", "params": copy_params},
            {"name": "Mapping", "params": {"mappingId": connection_id("mapping", definition.flow_id)}},
        ],
        "scheduleParams": schedule,
        "createdAt": to_ms(flow.created_at),
        "updatedAt": to_ms(flow.updated_at),
        "createdBy": f"{CLIENT_ID}@AdobeID",
        "updatedBy": f"{CLIENT_ID}@AdobeID",
        "createdClient": CLIENT_ID,
        "updatedClient": CLIENT_ID,
        "imsOrgId": ORG_ID,
        "lastRunDetails": _last_run_details(last_run, now),
        "runs": f"/runs?property=flowId=={definition.flow_id}",
    }
