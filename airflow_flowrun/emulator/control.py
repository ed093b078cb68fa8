"""The Python API over an :class:`~.state.EmulatorState`: configure flows, faults and settings,
and inspect requests, runs and windows. :class:`~.server.FlowServiceEmulator` adds the server."""

from __future__ import annotations

import uuid
from typing import Any

from airflow_flowrun.emulator.faults import FaultRule
from airflow_flowrun.emulator.requestlog import RecordedRequest
from airflow_flowrun.emulator.seeds import TABLE_COLUMNS, FlowDefinition
from airflow_flowrun.emulator.settings import EmulatorSettings
from airflow_flowrun.emulator.state import EmulatorState


class EmulatorControl:
    """Configuration and inspection of the emulator's state, shared by every way of serving it.

    :param state: the state to drive.
    """

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # -- configuration ----------------------------------------------------------------------------
    @property
    def flows(self) -> dict[str, dict[str, Any]]:
        """Every flow (seeded and added) as ``GET /flows/{id}`` shows it, by flow id."""
        return self.state.flow_views()

    def configure_flow(
        self,
        flow_id: str,
        *,
        duration: float | None = None,
        outcome: str | None = None,
        fail_first: int | None = None,
    ) -> dict[str, Any]:
        """Change how a flow's next runs behave (None keeps a setting); returns its settings.

        :param flow_id: the flow.
        :param duration: seconds its runs stay ``inProgress``.
        :param outcome: ``"success"``, ``"failed"`` or ``"partial"``.
        :param fail_first: its first N run executions fail (re-triggers count).
        """
        return self.state.configure_flow(flow_id, duration=duration, outcome=outcome, fail_first=fail_first)

    def add_flow(
        self,
        *,
        kind: str = "table",
        flow_id: str | None = None,
        name: str | None = None,
        frequency: str = "once",
        state: str = "enabled",
        delta_column: str | None = None,
        columns: tuple[str, ...] = TABLE_COLUMNS,
        outcome: str = "success",
        duration: float | None = None,
        fail_first: int = 0,
    ) -> str:
        """Add a flow (gone again after :meth:`reset`) and return its id.

        :param kind: ``"table"`` or ``"file"``.
        :param flow_id: its id; default a new UUID.
        :param delta_column: a delta column already stored (table flows), None for a fresh flow.
        :param columns: the source table's columns (table flows).
        """
        flow_id = flow_id or str(uuid.uuid4())
        definition = FlowDefinition(
            flow_id=flow_id,
            name=name or f"Emulator {kind} flow {flow_id[:8]}",
            kind=kind,
            frequency=frequency,
            state=state,
            delta_column=delta_column,
            columns=tuple(columns) if kind == "table" else (),
            outcome=outcome,
            duration=duration,
            fail_first=fail_first,
        )
        self.state.add_flow(definition)
        return flow_id

    def inject(self, kind: str, **rule: Any) -> FaultRule:
        """Add a fault rule (see :mod:`airflow_flowrun.emulator.faults`) and return it."""
        return self.state.add_fault({"kind": kind, **rule})

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.state.clear_faults()

    def update_settings(self, **changes: Any) -> EmulatorSettings:
        """Change runtime settings (see :data:`~.settings.RUNTIME_SETTINGS`)."""
        return self.state.update_settings(changes)

    @property
    def token_lifetime(self) -> float:
        """Seconds new tokens stay valid (settable)."""
        return self.state.settings.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: float) -> None:
        self.state.update_settings({"token_lifetime": seconds})

    @property
    def visibility_delay(self) -> float:
        """Seconds new runs stay invisible (settable)."""
        return self.state.settings.visibility_delay

    @visibility_delay.setter
    def visibility_delay(self, seconds: float) -> None:
        self.state.update_settings({"visibility_delay": seconds})

    @property
    def run_duration(self) -> float:
        """Default seconds new runs stay ``inProgress`` (settable)."""
        return self.state.settings.run_duration

    @run_duration.setter
    def run_duration(self, seconds: float) -> None:
        self.state.update_settings({"run_duration": seconds})

    def reset(self) -> None:
        """Back to the seeded state: no runs, faults or requests; constructor settings.

        Tokens already issued stay valid; see :meth:`revoke_tokens`.
        """
        self.state.reset()

    def revoke_tokens(self) -> None:
        """Invalidate every issued token: the next Flow Service call with one answers 401."""
        self.state.revoke_tokens()

    # -- inspection -------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Recent requests (IMS and Flow Service), oldest first, secrets redacted."""
        return self.state.requests()

    @property
    def token_requests(self) -> int:
        """Token requests received since the last reset (failed ones included)."""
        return int(self.state.stats()["token_requests"])

    @property
    def faults_injected(self) -> dict[str, int]:
        """Faults injected since the last reset, per kind."""
        return dict(self.state.stats()["faults_injected"])

    def runs(self, flow_id: str | None = None) -> list[dict[str, Any]]:
        """Runs (of one flow) as the API shows them now, oldest first, ignoring visibility delay."""
        return self.state.run_views(flow_id)

    def window_report(self, flow_id: str) -> dict[str, Any]:
        """``{"windows", "gaps", "overlaps"}`` of the flow's successfully ingested windows."""
        return self.state.window_report(flow_id)

    def expected_counts(
        self, flow_id: str, window_start: int, window_end: int, outcome: str | None = None
    ) -> dict[str, int]:
        """The metrics a finished run of the window reports (default: the flow's outcome)."""
        return self.state.expected_counts(flow_id, window_start, window_end, outcome)

    def stats(self) -> dict[str, Any]:
        """Request counters, faults injected per kind and the number of runs."""
        return self.state.stats()
