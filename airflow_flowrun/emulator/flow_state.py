"""The flows side of the emulator's world: flows, their schedules, and the clock that makes
scheduled runs.

:class:`~.state.EmulatorState` builds on it with the runs' routes. Scheduled runs are made when the
state is read (:meth:`FlowState._now`), never by a background thread.
"""

from __future__ import annotations

import time
from typing import Any

from airflow_flowrun.emulator import connections
from airflow_flowrun.emulator.connections import source_connection_view, target_connection_view
from airflow_flowrun.emulator.errors import flow_error
from airflow_flowrun.emulator.external_runs import Schedule
from airflow_flowrun.emulator.flows import FlowRecord, flow_view
from airflow_flowrun.emulator.listing import ListQuery
from airflow_flowrun.emulator.run_store import RunStore
from airflow_flowrun.emulator.runs import to_ms
from airflow_flowrun.emulator.seeds import SCHEDULER_CLIENT_ID, SEEDED_FLOWS, FlowDefinition
from airflow_flowrun.emulator.service_state import ServiceState
from airflow_flowrun.emulator.settings import EmulatorSettings


class FlowState(ServiceState):
    """Flows, schedules and the run store; every public method is thread-safe.

    :param settings: the settings :meth:`reset` returns to.
    """

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        super().__init__(settings)
        self.reset()

    def reset(self) -> None:
        """Back to the seeded state: seeded flows only, no runs, schedules, faults or requests,
        constructor settings.

        Issued tokens stay valid (a client's cached token survives, as it would a real IMS
        token); :meth:`revoke_tokens` invalidates them.
        """
        with self._lock:
            self.reset_service()
            self._flows: dict[str, FlowRecord] = {}
            self._runs = RunStore()
            self._schedules: dict[str, Schedule] = {}
            for definition in SEEDED_FLOWS:
                self.add_flow(definition)

    # -- flows ------------------------------------------------------------------------------------
    def add_flow(self, definition: FlowDefinition) -> FlowRecord:
        """Add (or replace) a flow."""
        with self._lock:
            record = FlowRecord(definition, seq=len(self._flows), created_at=time.time())
            self._flows[definition.flow_id] = record
            return record

    def all_flow_settings(self) -> list[dict[str, Any]]:
        """Emulator-side settings of every flow, its schedule (or None) included."""
        with self._lock:
            return [self._flow_settings(flow_id) for flow_id in self._flows]

    def _flow_settings(self, flow_id: str) -> dict[str, Any]:
        schedule = self._schedules.get(flow_id)
        return {**self._flows[flow_id].settings(), "schedule": schedule.to_dict(flow_id) if schedule else None}

    def configure_flow(self, flow_id: str, **changes: Any) -> dict[str, Any]:
        """Change a flow's ``duration``, ``outcome``, ``fail_first`` or ``counts``; returns its settings."""
        with self._lock:
            self._flow(flow_id).configure(**changes)
            return self._flow_settings(flow_id)

    def schedule_flow(
        self, flow_id: str, *, every: int, start: int | None = None, delay: float = 0.0
    ) -> dict[str, Any]:
        """Make a recurring flow start its own runs (see :mod:`.external_runs`); replaces its schedule.

        :raises KeyError: unknown flow.
        :raises ValueError: a ``once`` flow (on-demand only), or an argument out of range.
        """
        with self._lock:
            now = self._now()
            definition = self._flow(flow_id).definition
            if definition.frequency == "once":
                raise ValueError(
                    f"flow {flow_id} has frequency 'once' (on-demand runs only): schedule a flow whose "
                    "frequency is minute, hour, day or week (add_flow(frequency=...))"
                )
            schedule = Schedule.checked(every=every, start=start, delay=delay, now=now)
            self._schedules[flow_id] = schedule
            self._now()
            return schedule.to_dict(flow_id)

    def unschedule_flow(self, flow_id: str) -> None:
        """Stop a flow's schedule (its runs stay); nothing happens when it has none.

        :raises KeyError: unknown flow.
        """
        with self._lock:
            self._flow(flow_id)
            self._now()
            self._schedules.pop(flow_id, None)

    def _now(self) -> float:
        """The clock, once every scheduled run due by now exists. Call it with the lock held."""
        now = time.time()
        for flow_id, schedule in self._schedules.items():
            for window_start, window_end, created_at in schedule.due(now):
                record = self._flows[flow_id]
                params = {"startTime": int(created_at), "windowStartTime": window_start, "windowEndTime": window_end}
                self._runs.add(
                    record.new_run(
                        self._runs.next_seq(), params=params, created_at=created_at, outcome=record.next_outcome(),
                        duration=self._duration(record), sandbox=self._settings.sandboxes[0],
                        created_by=SCHEDULER_CLIENT_ID,
                    )
                )  # fmt: skip
        return now

    def _flow(self, flow_id: str) -> FlowRecord:
        record = self._flows.get(flow_id)
        if record is None:
            raise KeyError(f"unknown flow {flow_id!r}")
        return record

    def _flow_view(self, flow_id: str, now: float) -> dict[str, Any]:
        schedule = self._schedules.get(flow_id)
        last_run = self._runs.last_visible(flow_id, now)
        return flow_view(self._flows[flow_id], last_run, now, schedule.start if schedule else None)

    def flow_views(self) -> dict[str, dict[str, Any]]:
        """Every flow as the API shows it, by id."""
        with self._lock:
            now = self._now()
            return {flow_id: self._flow_view(flow_id, now) for flow_id in self._flows}

    def get_flow(self, flow_id: str) -> dict[str, Any]:
        """``GET /flows/{id}``'s flow, or ``FLOW-1439-404`` (the code of Adobe's example)."""
        with self._lock:
            if flow_id not in self._flows:
                raise flow_error("1439", 404, f"The flow {flow_id} was not found.")
            return self._flow_view(flow_id, self._now())

    def get_flow_connection(self, kind: str, connection_id: str) -> dict[str, Any]:
        """``GET /sourceConnections/{id}`` or ``GET /targetConnections/{id}`` (``kind``: source, target)."""
        view = source_connection_view if kind == "source" else target_connection_view
        with self._lock:
            for record in self._flows.values():
                if connections.connection_id(kind, record.definition.flow_id) == connection_id:
                    return view(record.definition, to_ms(record.created_at))
        raise flow_error("1439", 404, f"The {kind} connection {connection_id} was not found.")

    def list_flows(self, query: ListQuery) -> dict[str, Any]:
        """One page of ``GET /flows``."""
        with self._lock:
            now = self._now()
            entries = [(record.seq, self._flow_view(flow_id, now)) for flow_id, record in self._flows.items()]
        return query.page(entries, "flows")

    def _duration(self, record: FlowRecord) -> float:
        duration = record.definition.duration
        return self._settings.run_duration if duration is None else duration
