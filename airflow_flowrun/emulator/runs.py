"""A flow run and its wall-clock lifecycle.

A run is ``scheduled`` until its ``startTime`` (or its creation, whichever is later), then
``inProgress`` for its duration, then ``success`` (outcomes ``success`` and ``partial``) or
``failed``. Nothing is scheduled in the background: the status is computed from the clock each
time a run is read. The first 60 % of ``inProgress`` is the copy activity, the rest the
promotion activity (a failing run fails in its copy activity and never promotes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from airflow_flowrun.emulator.seeds import CLIENT_ID
from airflow_flowrun.emulator.source import SourceTotals, run_counts

SCHEDULED = "scheduled"
IN_PROGRESS = "inProgress"
SUCCESS = "success"
FAILED = "failed"
#: Share of a successful run's duration spent in the copy activity.
COPY_SHARE = 0.6

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_batch_id() -> str:
    """A random batch id shaped like Adobe's (26 Crockford base-32 characters, ULID-like)."""
    return "".join(secrets.choice(_CROCKFORD) for _ in range(26))


def etag_for(*parts: object) -> str:
    """A quoted etag shaped like Adobe's, derived from the resource's version parts."""
    digest = hashlib.md5(":".join(str(part) for part in parts).encode(), usedforsecurity=False).hexdigest()
    return f'"{digest[:8]}-0000-0200-0000-{digest[8:20]}"'


def to_ms(seconds: float) -> int:
    """Epoch seconds to epoch milliseconds, as Adobe writes times in run objects."""
    return int(seconds * 1000)


@dataclass
class Run:
    """One flow run. Times are epoch seconds (floats); ``attempt`` grows with each re-trigger.

    :param run_id: the run id.
    :param flow_id: the flow it belongs to.
    :param seq: creation order in the emulator, the tie-breaker for equal ``createdAt``.
    :param kind: ``"table"`` or ``"file"``, from the flow.
    :param flow_spec_id: the flow's spec.
    :param sandbox: the sandbox named when the run was created.
    :param created_at: creation time.
    :param window_start: ``windowStartTime`` (epoch seconds).
    :param window_end: ``windowEndTime`` (epoch seconds).
    :param params: the params echoed in the run object, times normalised to integers.
    :param totals: the source content of the window.
    :param started_at: when the current attempt leaves ``scheduled``.
    :param duration: seconds the current attempt stays ``inProgress``.
    :param outcome: how the current attempt ends: ``success``, ``partial`` or ``failed``.
    :param visible_at: before this time the run is not visible through the API.
    :param created_by: the client id that made the run (``createdBy`` / ``createdClient``).
    :param counts: metrics that replace the deterministic ones once the run has finished.
    """

    run_id: str
    flow_id: str
    seq: int
    kind: str
    flow_spec_id: str
    sandbox: str
    created_at: float
    window_start: int
    window_end: int
    params: dict[str, Any]
    totals: SourceTotals
    started_at: float
    duration: float
    outcome: str
    visible_at: float
    created_by: str = CLIENT_ID
    counts: dict[str, int] = field(default_factory=dict)
    attempt: int = 1
    triggered_at: float = 0.0
    batch_id: str = field(default_factory=new_batch_id)
    #: The failed attempt a re-trigger replaced, shown until ``shows_previous_until``.
    previous: Run | None = None
    shows_previous_until: float = 0.0

    def __post_init__(self) -> None:
        if not self.triggered_at:
            self.triggered_at = self.created_at

    @property
    def completed_at(self) -> float:
        """When the current attempt ends."""
        return self.started_at + self.duration

    @property
    def copy_completed_at(self) -> float:
        """When the copy activity of the current attempt ends."""
        if self.outcome == "failed":
            return self.completed_at
        return self.started_at + self.duration * COPY_SHARE

    def final_counts(self) -> dict[str, int]:
        """The metrics the current attempt reports once finished (overrides applied)."""
        return {**run_counts(self.kind, self.totals, self.outcome), **self.counts}

    def status(self, now: float) -> str:
        """The run status (``metrics.statusSummary.status``) at ``now``."""
        if now < self.started_at:
            return SCHEDULED
        if now < self.completed_at:
            return IN_PROGRESS
        return FAILED if self.outcome == "failed" else SUCCESS

    def phase(self, now: float) -> int:
        """0 scheduled, 1 copying, 2 promoting, 3 finished: each phase has its own etag."""
        if now < self.started_at:
            return 0
        if now < self.copy_completed_at:
            return 1
        return 2 if now < self.completed_at else 3

    def updated_at(self, now: float) -> float:
        """The latest state change that has happened by ``now``."""
        changes = [self.triggered_at, self.started_at, self.copy_completed_at, self.completed_at]
        return max((moment for moment in changes if moment <= now), default=now)

    def etag(self, now: float) -> str:
        """The run's etag: changes with every attempt and phase."""
        return etag_for(self.run_id, self.attempt, self.phase(now))

    def retrigger(self, now: float, duration: float, outcome: str, status_lag: float = 0.0) -> None:
        """Run the same window again from ``now`` (the run id and window stay).

        :param status_lag: for this many seconds the run still reads as the attempt that failed
        """
        self.previous = dataclasses.replace(self, previous=None) if status_lag > 0 else None
        self.shows_previous_until = now + status_lag
        self.attempt += 1
        self.triggered_at = now
        self.started_at = now
        self.duration = duration
        self.outcome = outcome
        self.batch_id = new_batch_id()
