"""Runs indexed by id and by flow id. Not thread-safe: the state locks it."""

from __future__ import annotations

from bisect import insort
from collections import defaultdict

from airflow_flowrun.emulator.listing import ListQuery
from airflow_flowrun.emulator.runs import Run


def _creation_key(run: Run) -> tuple[float, int]:
    return run.created_at, run.seq


class RunStore:
    """Every run, by id and per flow, oldest ``createdAt`` first (runs added "from elsewhere" may
    carry a ``createdAt`` in the past, so storing order is not creation order)."""

    def __init__(self) -> None:
        self._by_id: dict[str, Run] = {}
        self._by_flow: defaultdict[str, list[Run]] = defaultdict(list)
        self.last_seq = 0

    def __len__(self) -> int:
        return len(self._by_id)

    def next_seq(self) -> int:
        """The creation number of the next run."""
        self.last_seq += 1
        return self.last_seq

    def add(self, run: Run) -> None:
        """Store a new run."""
        self._by_id[run.run_id] = run
        insort(self._by_flow[run.flow_id], run, key=_creation_key)

    def get(self, run_id: str) -> Run | None:
        """The run with this id (ids compare case-insensitively), or None."""
        return self._by_id.get(run_id) or self._by_id.get(run_id.lower())

    def of_flow(self, flow_id: str | None = None) -> list[Run]:
        """The runs of one flow (every run when None), oldest first."""
        if flow_id is None:
            return sorted(self._by_id.values(), key=_creation_key)
        return list(self._by_flow.get(flow_id, []))

    def last_visible(self, flow_id: str, now: float) -> Run | None:
        """The flow's newest (by ``createdAt``) run visible at ``now``."""
        return next((run for run in reversed(self._by_flow.get(flow_id, [])) if run.visible_at <= now), None)

    def candidates(self, query: ListQuery) -> list[Run]:
        """The runs a listing can return: narrowed by ``id==`` or ``flowId==`` through the indexes,
        so reading 100 runs by id costs 100 lookups whatever the number of runs held."""
        run_ids = query.equality_values("id")
        if run_ids is not None:
            return [run for run in map(self.get, run_ids) if run is not None]
        flow_ids = query.equality_values("flowId")
        if flow_ids is not None:
            return [run for flow_id in flow_ids for run in self._by_flow.get(flow_id, [])]
        return list(self._by_id.values())
