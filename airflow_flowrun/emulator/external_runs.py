"""Runs Flow Service starts itself: added "from elsewhere" (the AEP UI, another tool) and started
by a flow's schedule.

Neither goes through ``POST /runs``, so neither meets its checks (frequency, disabled flow, delta
column). This module checks what a test asks for and computes which scheduled runs are due; the
state turns both into runs.

A schedule runs on a sped-up clock: an hourly AEP flow scheduled ``every=5`` runs every 5 seconds
here. Run ``k`` (k >= 1) covers ``[start + (k-1)*every, start + k*every)`` and is created at
``start + k*every + delay``. Nothing runs in the background: the state asks :meth:`Schedule.due`
whenever it is read, so each run appears exactly once and tests are deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from airflow_flowrun.emulator.seeds import OUTCOMES, UI_CLIENT_ID
from airflow_flowrun.emulator.source import check_counts
from airflow_flowrun.emulator.windows import check_range

#: The most runs a new schedule may owe at once (a ``start`` far in the past with a small
#: ``every`` would otherwise create millions of runs on the next read).
MAX_BACKLOG = 10_000


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer (epoch seconds), got {value!r}")
    return value


def _number(name: str, value: Any, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ExternalRun:
    """A run a test adds as if made elsewhere, checked; None fields take the flow's defaults.

    :param window_start: ``windowStartTime``.
    :param window_end: ``windowEndTime``.
    :param created_at: epoch seconds; the run starts then (it may be in the past or future).
    :param outcome: ``success``, ``failed`` or ``partial``; None: the flow's next outcome.
    :param duration: seconds in progress; None: the flow's duration.
    :param counts: metrics overriding the deterministic ones (see :data:`~.source.COUNT_KEYS`);
        None: the flow's overrides.
    :param sandbox: the sandbox the run is recorded in.
    :param created_by: the client id in ``createdBy`` / ``createdClient``.
    """

    window_start: int
    window_end: int
    created_at: float
    outcome: str | None
    duration: float | None
    counts: dict[str, int] | None
    sandbox: str
    created_by: str

    @classmethod
    def checked(
        cls,
        *,
        window_start: Any,
        window_end: Any,
        created_at: Any = None,
        outcome: Any = None,
        duration: Any = None,
        counts: Any = None,
        sandbox: Any = None,
        created_by: Any = None,
        sandboxes: tuple[str, ...],
        now: float,
    ) -> ExternalRun:
        """Check every argument of ``add_run``.

        :param now: the default ``created_at``.
        :param sandboxes: the sandboxes the emulator knows; the first is the default.
        :raises ValueError: naming the parameter and the value.
        """
        start, end = check_range(window_start, window_end, ("window_start", "window_end"))
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        sandbox = sandboxes[0] if sandbox is None else sandbox
        if sandbox not in sandboxes:
            raise ValueError(f"sandbox must be one of the emulator's sandboxes {list(sandboxes)}, got {sandbox!r}")
        created_by = UI_CLIENT_ID if created_by is None else created_by
        if not isinstance(created_by, str) or not created_by or any(c.isspace() for c in created_by):
            raise ValueError(f"created_by must be a client id (a non-empty string without spaces), got {created_by!r}")
        return cls(
            window_start=start,
            window_end=end,
            created_at=now if created_at is None else _number("created_at", created_at),
            outcome=outcome,
            duration=None if duration is None else _number("duration", duration, minimum=0),
            counts=None if counts is None else check_counts(counts),
            sandbox=sandbox,
            created_by=created_by,
        )


@dataclass
class Schedule:
    """A flow's recurring runs on the emulator's sped-up clock (see the module docstring).

    :param every: seconds between two runs (the length of each run's window), >= 1.
    :param start: epoch seconds where the first window begins.
    :param delay: seconds after a window ends until its run is created.
    :param made: how many of its runs exist so far.
    """

    every: int
    start: int
    delay: float = 0.0
    made: int = 0

    @classmethod
    def checked(cls, *, every: Any, start: Any = None, delay: Any = 0.0, now: float) -> Schedule:
        """Check ``schedule_flow``'s arguments; ``start`` defaults to ``now`` floored.

        :raises ValueError: naming the parameter and the value.
        """
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer number of seconds >= 1, got {every!r}")
        first = math.floor(now) if start is None else _integer("start", start)
        pause = _number("delay", delay, minimum=0)
        backlog = (now - first - pause) // every
        if backlog > MAX_BACKLOG:
            raise ValueError(
                f"start {first} is {int(backlog)} runs of {every} s in the past; a schedule may owe at most "
                f"{MAX_BACKLOG} runs when it begins: choose a later start or a larger every"
            )
        return cls(every=every, start=first, delay=pause)

    def created_at(self, k: int) -> float:
        """When run ``k`` (1-based) is created."""
        return self.start + k * self.every + self.delay

    def due(self, now: float) -> list[tuple[int, int, float]]:
        """The runs due by ``now`` not made yet, as ``(window_start, window_end, created_at)``;
        they count as made from here on."""
        windows: list[tuple[int, int, float]] = []
        while self.created_at(self.made + 1) <= now:
            self.made += 1
            end = self.start + self.made * self.every
            windows.append((end - self.every, end, self.created_at(self.made)))
        return windows

    def to_dict(self, flow_id: str) -> dict[str, Any]:
        """A JSON-ready description: the settings, runs made so far and when the next one comes."""
        return {
            "flow_id": flow_id,
            "every": self.every,
            "start": self.start,
            "delay": self.delay,
            "runs_made": self.made,
            "next_run_at": self.created_at(self.made + 1),
        }
