"""The emulator's in-memory world: flows, runs, tokens, settings, faults and the request log.

One lock guards everything: uvicorn serves from a background thread while tests read and
configure the state from theirs. Runs are indexed by id and by flow id, so ``id==`` and
``flowId==`` listings cost what they return, not the number of runs held.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from airflow_flowrun.emulator import connections
from airflow_flowrun.emulator.connections import source_connection_view, target_connection_view
from airflow_flowrun.emulator.errors import flow_error
from airflow_flowrun.emulator.faults import FaultInjector, FaultRule
from airflow_flowrun.emulator.flows import FlowRecord, flow_view
from airflow_flowrun.emulator.listing import ListQuery
from airflow_flowrun.emulator.params import check_flow_accepts_runs, parse_run_request, require_flow_id
from airflow_flowrun.emulator.requestlog import RecordedRequest, RequestLog
from airflow_flowrun.emulator.run_store import RunStore
from airflow_flowrun.emulator.run_view import SUMMARY_FIELDS, run_summary, run_view
from airflow_flowrun.emulator.runs import FAILED, Run, new_batch_id, to_ms
from airflow_flowrun.emulator.seeds import OUTCOMES, SEEDED_FLOWS, FlowDefinition
from airflow_flowrun.emulator.settings import RUNTIME_SETTINGS, EmulatorSettings
from airflow_flowrun.emulator.source import run_counts, source_totals
from airflow_flowrun.emulator.tokens import TokenStore
from airflow_flowrun.emulator.windows import window_report

_RETRIGGER_OPS = frozenset({"re-trigger", "retrigger"})


class EmulatorState:
    """Everything the emulator knows; every public method is thread-safe.

    :param settings: the settings :meth:`reset` returns to.
    """

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self._lock = threading.RLock()
        self.initial_settings = settings or EmulatorSettings()
        self.tokens = TokenStore()
        self.reset()

    def reset(self) -> None:
        """Back to the seeded state: seeded flows only, no runs, faults or requests, constructor settings.

        Issued tokens stay valid (a client's cached token survives, as it would a real IMS
        token); :meth:`revoke_tokens` invalidates them.
        """
        with self._lock:
            self._settings = self.initial_settings
            self._flows: dict[str, FlowRecord] = {}
            self._runs = RunStore()
            self.log = RequestLog(self._settings.request_log_size)
            self.faults = FaultInjector(self._settings.seed)
            for definition in SEEDED_FLOWS:
                self.add_flow(definition)

    # -- settings ---------------------------------------------------------------------------------
    @property
    def settings(self) -> EmulatorSettings:
        """The current settings."""
        return self._settings

    def update_settings(self, changes: Mapping[str, Any]) -> EmulatorSettings:
        """Change runtime settings (see :data:`~.settings.RUNTIME_SETTINGS`)."""
        with self._lock:
            self._settings = self._settings.updated(changes, RUNTIME_SETTINGS)
            return self._settings

    # -- tokens -----------------------------------------------------------------------------------
    def issue_token(self) -> tuple[str, float]:
        """A new opaque access token and its lifetime in seconds."""
        settings = self._settings
        return self.tokens.issue(settings.token_lifetime, settings.token_prefix), settings.token_lifetime

    def revoke_tokens(self) -> None:
        """Invalidate every issued token (the next Flow Service call with one answers 401013)."""
        self.tokens.clear()

    # -- flows ------------------------------------------------------------------------------------
    def add_flow(self, definition: FlowDefinition) -> FlowRecord:
        """Add (or replace) a flow."""
        with self._lock:
            record = FlowRecord(definition, seq=len(self._flows), created_at=time.time())
            self._flows[definition.flow_id] = record
            return record

    def all_flow_settings(self) -> list[dict[str, Any]]:
        """Emulator-side settings of every flow."""
        with self._lock:
            return [record.settings() for record in self._flows.values()]

    def configure_flow(self, flow_id: str, **changes: Any) -> dict[str, Any]:
        """Change a flow's ``duration``, ``outcome`` or ``fail_first``; returns its settings."""
        with self._lock:
            record = self._flow(flow_id)
            record.configure(**changes)
            return record.settings()

    def _flow(self, flow_id: str) -> FlowRecord:
        record = self._flows.get(flow_id)
        if record is None:
            raise KeyError(f"unknown flow {flow_id!r}")
        return record

    def flow_views(self) -> dict[str, dict[str, Any]]:
        """Every flow as the API shows it, by id."""
        with self._lock:
            now = time.time()
            return {
                flow_id: flow_view(record, self._runs.last_visible(flow_id, now), now)
                for flow_id, record in self._flows.items()
            }

    def get_flow(self, flow_id: str) -> dict[str, Any]:
        """``GET /flows/{id}``'s flow, or ``FLOW-1101-404``."""
        with self._lock:
            record = self._flows.get(flow_id)
            if record is None:
                raise flow_error("1101", 404, f"Flow {flow_id} not found.")
            now = time.time()
            return flow_view(record, self._runs.last_visible(flow_id, now), now)

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
            now = time.time()
            entries = [
                (record.seq, flow_view(record, self._runs.last_visible(flow_id, now), now))
                for flow_id, record in self._flows.items()
            ]
        return query.page(entries, "flows")

    # -- runs -------------------------------------------------------------------------------------
    def create_run(self, body: Any, sandbox: str) -> dict[str, Any]:
        """Validate a ``POST /runs`` body, create the run and return it as the API shows it.

        :param body: the parsed JSON body (see :mod:`.params` for the errors it can raise).
        :param sandbox: the sandbox named by the request.
        """
        flow_id = require_flow_id(body)
        with self._lock:
            record = self._flows.get(flow_id)
            if record is None:
                raise flow_error("1430", 400, f"Invalid run parameter 'flowId': flow {flow_id} not found.")
            definition = record.definition
            check_flow_accepts_runs(definition)
            now = time.time()
            request = parse_run_request(definition, record.delta_column, body, now)
            if request.delta_column is not None and record.delta_column is None:
                record.store_delta_column(request.delta_column, now)
            params: dict[str, Any] = {
                "startTime": request.start_time,
                "windowStartTime": request.window_start,
                "windowEndTime": request.window_end,
            }
            if "deltaColumn" in request.sent_params:
                params["deltaColumn"] = request.sent_params["deltaColumn"]
            run = Run(
                run_id=str(uuid.uuid4()),
                flow_id=flow_id,
                seq=self._runs.next_seq(),
                kind=definition.kind,
                flow_spec_id=definition.flow_spec_id,
                sandbox=sandbox,
                created_at=now,
                window_start=request.window_start,
                window_end=request.window_end,
                params=params,
                totals=source_totals(flow_id, definition.kind, request.window_start, request.window_end),
                started_at=max(now, float(request.start_time)),
                duration=self._duration(record),
                outcome=record.next_outcome(),
                visible_at=now + self._settings.visibility_delay,
            )
            self._runs.add(run)
            return run_view(run, now)

    def _duration(self, record: FlowRecord) -> float:
        duration = record.definition.duration
        return self._settings.run_duration if duration is None else duration

    def _visible_run(self, run_id: str, now: float) -> Run:
        run = self._runs.get(run_id)
        if run is None or run.visible_at > now:
            raise flow_error("1101", 404, f"Run {run_id} not found.")
        return run

    def get_run(self, run_id: str) -> dict[str, Any]:
        """``GET /runs/{id}``'s run, or ``FLOW-1101-404`` (also while not visible yet)."""
        with self._lock:
            now = time.time()
            return run_view(self._visible_run(run_id, now), now)

    def list_runs(self, query: ListQuery) -> dict[str, Any]:
        """One page of ``GET /runs``.

        ``id==`` and ``flowId==`` filters narrow the candidates through the indexes; when every
        filter reads a field of :func:`~.run_view.run_summary`, only the page's runs are built
        in full, so listing a flow with thousands of runs stays cheap.
        """
        with self._lock:
            now = time.time()
            runs = {run.seq: run for run in self._runs.candidates(query) if run.visible_at <= now}
            if query.reads_only(SUMMARY_FIELDS, ("params.",)):
                entries = [(seq, run_summary(run, now)) for seq, run in runs.items()]
                return query.page(entries, "runs", lambda seq: run_view(runs[seq], now))
            return query.page([(seq, run_view(run, now)) for seq, run in runs.items()], "runs")

    def retrigger(self, run_id: str, op: str | None) -> dict[str, str]:
        """Re-run a failed run over the same window; returns ``{"id", "etag"}``."""
        if op is None or op.replace("_", "-").lower() not in _RETRIGGER_OPS:
            raise flow_error("1384", 400, f"Invalid action op {op!r}: supported: re-trigger (RE_TRIGGER).")
        with self._lock:
            now = time.time()
            run = self._visible_run(run_id, now)
            status = run.status(now)
            if status != FAILED:
                raise flow_error("1384", 400, f"Run {run_id} is {status}: only failed runs can be re-triggered.")
            record = self._flows[run.flow_id]
            if self._settings.retrigger_mode == "new-run":
                run = dataclasses.replace(
                    run, run_id=str(uuid.uuid4()), seq=self._runs.next_seq(), created_at=now, started_at=now,
                    duration=self._duration(record), outcome=record.next_outcome(), attempt=1, triggered_at=now,
                    visible_at=now + self._settings.visibility_delay, batch_id=new_batch_id(), previous=None,
                )  # fmt: skip
                self._runs.add(run)
            else:
                run.retrigger(now, self._duration(record), record.next_outcome(), self._settings.retrigger_status_lag)
            return {"id": run.run_id, "etag": run.etag(now)}

    def run_views(self, flow_id: str | None = None) -> list[dict[str, Any]]:
        """Every run (of one flow), oldest first, visible or not yet."""
        with self._lock:
            now = time.time()
            return [run_view(run, now) for run in self._runs.of_flow(flow_id)]

    def window_report(self, flow_id: str) -> dict[str, Any]:
        """Windows ingested by the flow's successful runs (partial included), gaps and overlaps."""
        with self._lock:
            self._flow(flow_id)
            now = time.time()
            windows = [
                (run.window_start, run.window_end)
                for run in self._runs.of_flow(flow_id)
                if run.status(now) == "success"
            ]
        return window_report(windows)

    def expected_counts(
        self, flow_id: str, window_start: int, window_end: int, outcome: str | None = None
    ) -> dict[str, int]:
        """Run metrics a run of the window reports once finished (default: the flow's outcome)."""
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        with self._lock:
            definition = self._flow(flow_id).definition
        totals = source_totals(flow_id, definition.kind, window_start, window_end)
        return run_counts(definition.kind, totals, outcome or definition.outcome)

    # -- requests and faults ----------------------------------------------------------------------
    def arrive(self, method: str, path: str) -> FaultRule | None:
        """Count an arriving request and choose the fault it gets, if any."""
        with self._lock:
            self.log.count(method, path)
            return self.faults.choose(method, path) if self.faults.rules else None

    def record(self, request: RecordedRequest) -> None:
        """Log an answered (or dropped) request."""
        with self._lock:
            self.log.append(request)

    def requests(self) -> list[RecordedRequest]:
        """The logged requests, oldest first."""
        with self._lock:
            return list(self.log.entries)

    def add_fault(self, spec: Mapping[str, Any]) -> FaultRule:
        """Add a fault rule (see :mod:`.faults`)."""
        with self._lock:
            return self.faults.add(spec)

    def fault_rules(self) -> list[dict[str, Any]]:
        """The active fault rules with their counters."""
        with self._lock:
            return [rule.to_dict() for rule in self.faults.rules]

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        with self._lock:
            self.faults.clear()

    def stats(self) -> dict[str, Any]:
        """Request counters, injected faults per kind and the number of runs."""
        with self._lock:
            return {
                "token_requests": self.log.token_requests,
                "total_requests": self.log.total,
                "requests_by_route": dict(self.log.by_route),
                "faults_injected": self.faults.counts(),
                "runs": len(self._runs),
            }
