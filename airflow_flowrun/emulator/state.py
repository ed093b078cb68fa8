"""The emulator's in-memory world: runs on top of flows, schedules, tokens, settings, faults and the request log.

Three layers share one lock: :class:`~.service_state.ServiceState` (settings, tokens, faults, the
request log), :class:`~.flow_state.FlowState` (flows, schedules, the run store) and
:class:`EmulatorState` here (creating, reading and reporting runs). uvicorn serves from a
background thread while tests read and configure the state from theirs. Runs are indexed by id
and by flow id, so ``id==`` and ``flowId==`` listings cost what they return, not the number of
runs held.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

from airflow_flowrun.emulator.errors import flow_error
from airflow_flowrun.emulator.external_runs import ExternalRun
from airflow_flowrun.emulator.flow_state import FlowState
from airflow_flowrun.emulator.listing import ListQuery
from airflow_flowrun.emulator.params import check_flow_accepts_runs, parse_run_request, require_flow_id
from airflow_flowrun.emulator.run_view import SUMMARY_FIELDS, run_summary, run_view, shown
from airflow_flowrun.emulator.runs import FAILED, Run, new_batch_id, to_ms
from airflow_flowrun.emulator.seeds import OUTCOMES
from airflow_flowrun.emulator.source import run_counts, source_totals
from airflow_flowrun.emulator.windows import RunWindow, check_range, window_coverage, window_report

_RETRIGGER_OPS = frozenset({"re-trigger", "retrigger"})


class EmulatorState(FlowState):
    """Everything the emulator knows: :class:`~.flow_state.FlowState` and the runs' routes and
    reports; every public method is thread-safe."""

    # -- runs -------------------------------------------------------------------------------------
    def create_run(self, body: Any, sandbox: str, client_id: str) -> dict[str, Any]:
        """Validate a ``POST /runs`` body, create the run and return it as the API shows it.

        :param body: the parsed JSON body (see :mod:`.params` for the errors it can raise).
        :param sandbox: the sandbox named by the request.
        :param client_id: the client whose token made the request (``createdBy``).
        """
        flow_id = require_flow_id(body)
        with self._lock:
            record = self._flows.get(flow_id)
            if record is None:
                raise flow_error("1430", 400, f"Invalid run parameter 'flowId': flow {flow_id} not found.")
            definition = record.definition
            check_flow_accepts_runs(definition)
            now = self._now()
            request = parse_run_request(definition, record.delta_column, body)
            if request.delta_column is not None and record.delta_column is None:
                record.store_delta_column(request.delta_column, now)
            params: dict[str, Any] = {
                "startTime": request.start_time,
                "windowStartTime": request.window_start,
                "windowEndTime": request.window_end,
            }
            if "deltaColumn" in request.sent_params:
                params["deltaColumn"] = request.sent_params["deltaColumn"]
            run = record.new_run(
                self._runs.next_seq(),
                params=params,
                created_at=now,
                started_at=max(now, float(request.start_time)),
                outcome=record.next_outcome(),
                duration=self._duration(record),
                sandbox=sandbox,
                created_by=client_id,
                visible_at=now + self._settings.visibility_delay,
            )
            self._runs.add(run)
            return run_view(run, now)

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
        """Add a run Flow Service made itself (the AEP UI, another tool); returns it as the API shows it.

        See :meth:`.control.EmulatorControl.add_run` for the parameters.

        :raises KeyError: unknown flow.
        :raises ValueError: naming the parameter and the value.
        """
        with self._lock:
            now = self._now()
            record = self._flow(flow_id)
            added = ExternalRun.checked(
                window_start=window_start, window_end=window_end, created_at=created_at, outcome=outcome,
                duration=duration, counts=counts, sandbox=sandbox, created_by=created_by,
                sandboxes=self._settings.sandboxes, now=now,
            )  # fmt: skip
            window = {"windowStartTime": added.window_start, "windowEndTime": added.window_end}
            run = record.new_run(
                self._runs.next_seq(),
                params={"startTime": int(added.created_at), **window},
                created_at=added.created_at,
                outcome=record.next_outcome() if added.outcome is None else added.outcome,
                duration=self._duration(record) if added.duration is None else added.duration,
                sandbox=added.sandbox,
                created_by=added.created_by,
                counts=added.counts,
            )
            self._runs.add(run)
            return run_view(run, now)

    def _visible_run(self, run_id: str, now: float) -> Run:
        run = self._runs.get(run_id)
        if run is None or run.visible_at > now:
            raise flow_error("1101", 404, f"Run {run_id} not found.")
        return run

    def get_run(self, run_id: str) -> dict[str, Any]:
        """``GET /runs/{id}``'s run, or ``FLOW-1101-404`` (also while not visible yet)."""
        with self._lock:
            now = self._now()
            return run_view(self._visible_run(run_id, now), now)

    def list_runs(self, query: ListQuery) -> dict[str, Any]:
        """One page of ``GET /runs``.

        ``id==`` and ``flowId==`` filters narrow the candidates through the indexes; when every
        filter reads a field of :func:`~.run_view.run_summary`, only the page's runs are built
        in full, so listing a flow with thousands of runs stays cheap.
        """
        with self._lock:
            now = self._now()
            runs = {run.seq: run for run in self._runs.candidates(query) if run.visible_at <= now}
            if query.reads_only(SUMMARY_FIELDS, ("params.",)):
                entries = [(seq, run_summary(run, now)) for seq, run in runs.items()]
                return query.page(entries, "runs", lambda seq: run_view(runs[seq], now))
            return query.page([(seq, run_view(run, now)) for seq, run in runs.items()], "runs")

    def retrigger(self, run_id: str, op: str | None, client_id: str) -> dict[str, str]:
        """Re-run a failed run over the same window; returns ``{"id", "etag"}``.

        :param client_id: the client asking; a ``new-run`` re-trigger's run records it.
        """
        if op is None or op.replace("_", "-").lower() not in _RETRIGGER_OPS:
            raise flow_error("1384", 400, f"Invalid action op {op!r}: supported: re-trigger (RE_TRIGGER).")
        with self._lock:
            now = self._now()
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
                    created_by=client_id,
                )  # fmt: skip
                self._runs.add(run)
            else:
                run.retrigger(now, self._duration(record), record.next_outcome(), self._settings.retrigger_status_lag)
            return {"id": run.run_id, "etag": run.etag(now)}

    def run_views(self, flow_id: str | None = None) -> list[dict[str, Any]]:
        """Every run (of one flow), oldest first, visible or not yet."""
        with self._lock:
            now = self._now()
            return [run_view(run, now) for run in self._runs.of_flow(flow_id)]

    def window_report(self, flow_id: str) -> dict[str, Any]:
        """Windows ingested by the flow's successful runs (partial included), gaps and overlaps."""
        with self._lock:
            self._flow(flow_id)
            now = self._now()
            windows = [
                (run.window_start, run.window_end)
                for run in self._runs.of_flow(flow_id)
                if run.status(now) == "success"
            ]
        return window_report(windows)

    def window_coverage(self, flow_id: str, start: int, end: int) -> dict[str, Any]:
        """How the flow's runs, as the API shows them now, cover ``[start, end)``.

        See :func:`.windows.window_coverage`; runs not visible yet do not count.

        :raises KeyError: unknown flow.
        :raises ValueError: ``start`` or ``end`` not integers, or ``end <= start``.
        """
        start, end = check_range(start, end)
        with self._lock:
            self._flow(flow_id)
            now = self._now()
            runs = [
                RunWindow(
                    run.run_id, to_ms(run.created_at), run.window_start, run.window_end, shown(run, now).status(now)
                )
                for run in self._runs.of_flow(flow_id)
                if run.visible_at <= now
            ]
        return window_coverage(runs, start, end)

    def expected_counts(
        self, flow_id: str, window_start: int, window_end: int, outcome: str | None = None
    ) -> dict[str, int]:
        """Run metrics a run of the window reports once finished (default: the flow's outcome),
        the flow's ``counts`` overrides applied."""
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        with self._lock:
            record = self._flow(flow_id)
            definition, overrides = record.definition, dict(record.counts)
        totals = source_totals(flow_id, definition.kind, window_start, window_end)
        return {**run_counts(definition.kind, totals, outcome or definition.outcome), **overrides}

    def stats(self) -> dict[str, Any]:
        """Request counters, injected faults per kind and the number of runs."""
        with self._lock:
            self._now()
            return {
                "token_requests": self.log.token_requests,
                "total_requests": self.log.total,
                "requests_by_route": dict(self.log.by_route),
                "faults_injected": self.faults.counts(),
                "runs": len(self._runs),
            }
