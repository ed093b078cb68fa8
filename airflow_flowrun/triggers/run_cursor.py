"""A watcher's position in a flow's runs: which finished runs it knows, in a few bytes of JSON.

Runs are ordered by when they ended on Flow Service's clock (``completedAtUTC``, else
``updatedAt``). The cursor keeps the latest end it has seen (the watermark) and the runs that ended
within :data:`~airflow_flowrun.api.CLOCK_SKEW_MS` of it: a listing of the runs updated since the
watermark minus that margin returns only runs that are new or in that set, whatever the order in
which Flow Service makes them visible within the margin. So the cursor stays small however many runs
the flow has, and a run counts as new once per attempt (a re-triggered run ends again, later).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_flowrun.api import CLOCK_SKEW_MS
from airflow_flowrun.status import RunStatus


@dataclass(frozen=True)
class RunCursor:
    """Where a watcher stands in a flow's runs.

    :param watermark_ms: the latest end (epoch ms, Flow Service's clock) of a finished run seen, or
        when the watcher first started (this machine's clock) while none has been seen since
    :param seen: the finished runs that ended after ``watermark_ms - CLOCK_SKEW_MS``: run id to end
    :param baseline: True until the first listing after the watcher first started; the runs that
        listing shows finished had ended before the watcher started and are not new
    """

    watermark_ms: int
    seen: dict[str, int] = field(default_factory=dict)
    baseline: bool = False

    @classmethod
    def first(cls) -> RunCursor:
        """The cursor of a watcher starting for the first time: nothing seen, a baseline to take."""
        return cls(watermark_ms=int(time.time() * 1000), baseline=True)

    @classmethod
    def parse(cls, stored: Any) -> RunCursor | None:
        """The cursor a store held, or None when it holds something else (another version, a hand edit)."""
        if not isinstance(stored, dict) or set(stored) != {"watermark_ms", "seen", "baseline"}:
            return None
        watermark, seen, baseline = stored["watermark_ms"], stored["seen"], stored["baseline"]
        if not _is_int(watermark) or not isinstance(seen, dict) or not isinstance(baseline, bool):
            return None
        if not all(isinstance(run_id, str) and _is_int(end) for run_id, end in seen.items()):
            return None
        return cls(watermark_ms=watermark, seen=dict(seen), baseline=baseline)

    def to_json(self) -> dict[str, Any]:
        """The cursor as a JSON value for a store."""
        return asdict(self)

    @property
    def listed_since_ms(self) -> int:
        """The ``updatedAt`` after which a listing must return runs: every run it may not know is newer."""
        return self.watermark_ms - CLOCK_SKEW_MS

    def advance(self, runs: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], RunCursor]:
        """The runs of a listing that newly ended (in the order they ended), and the cursor after them.

        A listing taken as the baseline has no new runs: it only fills the cursor.
        """
        since = self.listed_since_ms
        ended: dict[str, tuple[int, dict[str, Any]]] = {}
        for run in runs:
            end = ended_ms(run)
            run_id = run.get("id")
            if not isinstance(run_id, str) or end is None or end <= since or not RunStatus.of_run(run).is_terminal():
                continue
            if self.seen.get(run_id) != end:
                ended[run_id] = (end, run)
        watermark = max([self.watermark_ms, *(end for end, _ in ended.values())])
        seen = {**self.seen, **{run_id: end for run_id, (end, _) in ended.items()}}
        cursor = RunCursor(
            watermark_ms=watermark,
            seen={run_id: end for run_id, end in sorted(seen.items()) if end > watermark - CLOCK_SKEW_MS},
        )
        if self.baseline:
            return [], cursor
        return [run for _, run in sorted(ended.values(), key=lambda item: (item[0], item[1]["id"]))], cursor

    def describe(self) -> str:
        """The cursor in words, for the log."""
        moment = datetime.fromtimestamp(self.watermark_ms / 1000, tz=UTC).isoformat(timespec="seconds")
        if self.baseline:
            return f"its first start at {moment} (runs already finished then do not fire)"
        return f"runs ending after {moment} ({len(self.seen)} ending near it already seen)"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def ended_ms(run: dict[str, Any]) -> int | None:
    """When a run's current attempt ended (epoch ms), else when it last changed; None when it says neither."""
    completed = ((run.get("metrics") or {}).get("durationSummary") or {}).get("completedAtUTC")
    for value in (completed, run.get("updatedAt")):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None
