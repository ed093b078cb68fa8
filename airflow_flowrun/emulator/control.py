"""The Python API over an :class:`~.state.EmulatorState`: configure flows, faults and settings,
and inspect requests, runs and windows. :class:`~.server.FlowServiceEmulator` adds the server."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
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
        counts: Mapping[str, int] | None = None,
    ) -> dict[str, Any]:
        """Change how a flow's next runs behave (None keeps a setting); returns its settings.

        :param flow_id: the flow.
        :param duration: seconds its runs stay ``inProgress``.
        :param outcome: ``"success"``, ``"failed"`` or ``"partial"``.
        :param fail_first: its first N run executions fail (re-triggers count).
        :param counts: metrics its next runs report once finished instead of the deterministic
            ones, keyed as in Adobe's run metrics (:data:`~.source.COUNT_KEYS`, e.g.
            ``{"inputRecordCount": 10, "outputRecordCount": 8, "failedRecordCount": 2}``) or as
            in the run summary (``{"output_records": 8, "failed_records": 2}``); keys left out
            keep their deterministic value; ``{}`` removes every override.
        """
        return self.state.configure_flow(
            flow_id, duration=duration, outcome=outcome, fail_first=fail_first, counts=counts
        )

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
        interval: int = 1,
    ) -> str:
        """Add a flow (gone again after :meth:`reset`) and return its id.

        :param kind: ``"table"`` or ``"file"``.
        :param flow_id: its id; default a new UUID.
        :param frequency: ``"once"`` (on-demand runs through ``POST /runs``) or ``"minute"``,
            ``"hour"``, ``"day"``, ``"week"`` (a recurring flow: ``POST /runs`` answers
            ``FLOW-1386-400``; :meth:`schedule_flow` makes it start its own runs).
        :param state: ``"enabled"`` or ``"disabled"``.
        :param delta_column: a delta column already stored (table flows), None for a fresh flow.
        :param columns: the source table's columns (table flows).
        :param outcome: how its runs end: ``"success"``, ``"failed"`` or ``"partial"``.
        :param duration: seconds its runs stay ``inProgress``; None: the emulator's ``run_duration``.
        :param fail_first: its first N run executions fail.
        :param interval: ``scheduleParams.interval`` of a recurring flow.
        :raises ValueError: naming the parameter and the value.
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
            interval=interval,
        )
        self.state.add_flow(definition)
        return flow_id

    def add_run(
        self,
        flow_id: str,
        *,
        window_start: int,
        window_end: int,
        created_at: float | None = None,
        outcome: str | None = None,
        duration: float | None = None,
        counts: Mapping[str, int] | None = None,
        sandbox: str | None = None,
        created_by: str | None = None,
    ) -> dict[str, Any]:
        """Add a run Flow Service made itself: from the AEP UI, another tool or AEP's own schedule.

        It skips ``POST /runs``' checks (a recurring or disabled flow takes it, no delta column is
        needed) and lives the normal lifecycle from ``created_at``: ``inProgress`` from then for
        ``duration`` seconds, then its outcome. It is visible from ``created_at`` on.

        :param flow_id: the flow.
        :param window_start: ``windowStartTime``, integer epoch seconds.
        :param window_end: ``windowEndTime``, integer epoch seconds after ``window_start``.
        :param created_at: ``createdAt`` in epoch seconds (may be in the past); default now.
        :param outcome: ``"success"``, ``"failed"`` or ``"partial"``; default the flow's next
            outcome (which counts as one of its executions for ``fail_first``; an explicit one
            does not).
        :param duration: seconds in progress; default the flow's duration.
        :param counts: metrics replacing the deterministic ones (see :meth:`configure_flow`);
            default the flow's overrides.
        :param sandbox: the sandbox it is recorded in; default the first of the ``sandboxes``
            setting (``prod``).
        :param created_by: the client id in ``createdBy``/``createdClient``; default
            :data:`~.seeds.UI_CLIENT_ID` (the AEP UI).
        :return: the run as ``GET /runs/{id}`` shows it now.
        :raises KeyError: unknown flow.
        :raises ValueError: naming the parameter and the value.
        """
        return self.state.add_run(
            flow_id, window_start=window_start, window_end=window_end, created_at=created_at, outcome=outcome,
            duration=duration, counts=counts, sandbox=sandbox, created_by=created_by,
        )  # fmt: skip

    def schedule_flow(
        self, flow_id: str, *, every: int, start: int | None = None, delay: float = 0.0
    ) -> dict[str, Any]:
        """Make a recurring flow start its own runs, on a sped-up clock; replaces its schedule.

        For each k >= 1 with ``start + k*every + delay <= now`` the flow has exactly one run over
        ``[start + (k-1)*every, start + k*every)``, created at ``start + k*every + delay`` by
        :data:`~.seeds.SCHEDULER_CLIENT_ID`, then living the normal lifecycle (the flow's
        duration, outcome, ``fail_first`` and counts). Runs appear when the emulator is read (no
        background thread), so a test sees the same runs every time. :meth:`reset` forgets
        schedules; runs already made stay when a schedule stops or is replaced (a replacement
        counts from its own ``start``).

        :param flow_id: a flow whose frequency is not ``once``.
        :param every: seconds between runs (and the length of each window), an integer >= 1: an
            hourly AEP flow runs every ``every`` seconds here.
        :param start: epoch seconds where the first window begins; default now (floored).
        :param delay: seconds between a window's end and its run's creation (>= 0).
        :return: ``{"flow_id", "every", "start", "delay", "runs_made", "next_run_at"}``.
        :raises KeyError: unknown flow.
        :raises ValueError: a ``once`` flow, or an argument out of range (naming it).
        """
        return self.state.schedule_flow(flow_id, every=every, start=start, delay=delay)

    def unschedule_flow(self, flow_id: str) -> None:
        """Stop a flow's schedule; its runs stay. Nothing happens when it has none.

        :raises KeyError: unknown flow.
        """
        self.state.unschedule_flow(flow_id)

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

    def window_coverage(self, flow_id: str, start: int, end: int) -> dict[str, Any]:
        """How the flow's runs cover ``[start, end)``, by the rules the provider's hook follows.

        Only runs whose window intersects the range count, clipped to it; ``success`` (partial
        ingestion included) covers, ``failed`` is failed, any other status pending.

        :param start: epoch seconds, inclusive.
        :param end: epoch seconds, exclusive, after ``start``.
        :return: ``{"covered": [[s, e], ...], "gaps": [[s, e], ...], "overlaps": [{"window": [s, e],
            "run_ids": [...]}, ...], "failed": [{"run_id", "window"}, ...], "pending": [...]}``
            (see :func:`.windows.window_coverage`).
        :raises KeyError: unknown flow.
        :raises ValueError: ``start``/``end`` not integers or ``end <= start``.
        """
        return self.state.window_coverage(flow_id, start, end)

    def expected_counts(
        self, flow_id: str, window_start: int, window_end: int, outcome: str | None = None
    ) -> dict[str, int]:
        """The metrics a finished run of the window reports (default: the flow's outcome)."""
        return self.state.expected_counts(flow_id, window_start, window_end, outcome)

    def stats(self) -> dict[str, Any]:
        """Request counters, faults injected per kind and the number of runs."""
        return self.state.stats()
