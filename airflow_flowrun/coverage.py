"""Window coverage: which parts of a time range a flow's runs ingested once, twice, or not at all.

Pure functions over run objects as ``GET /runs`` returns them: the hook feeds them the runs it
lists, the coverage-check operator and the window sensor read the answer. The emulator computes its
own report independently; the tests hold the two equal, so the rules below are the agreed ones:

- a run's window is ``[params.windowStartTime, params.windowEndTime)`` (ints, or strings of digits);
  runs without a readable, non-empty window are ignored, and so are runs without an id (they could
  not be named in a report, nor told apart from a repeat of themselves in a listing);
- only windows intersecting the range ``[start, end)`` count, clipped to it;
- ``success`` (partial ingestion included) covers its window, ``failed`` does not, anything else is
  pending (see :class:`~airflow_flowrun.status.RunStatus`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from airflow_flowrun.status import RunStatus


@dataclass(frozen=True)
class RunWindow:
    """One run's window clipped to the range, with what orders its run among others."""

    run_id: str
    start: int
    end: int
    status: RunStatus
    created_at: int | None

    @property
    def order(self) -> tuple[bool, int, str]:
        """``(createdAt, id)`` ascending; a run without a readable ``createdAt`` sorts last."""
        return (self.created_at is None, self.created_at or 0, self.run_id)


def window_coverage(runs: Iterable[Mapping[str, Any]], start: int, end: int) -> dict[str, Any]:
    """Report what the succeeded runs among ``runs`` cover of ``[start, end)``, and what they do not.

    A run listed more than once (listings can shift while they are paged) counts once, as last seen.

    :return: JSON-safe ``{"covered", "gaps", "overlaps", "failed", "pending"}`` (see the module docs
        and ``provider-contract.md``): windows as ``[s, e]`` lists of epoch seconds
    """
    windows = list({window.run_id: window for window in clipped_windows(runs, start, end)}.values())
    succeeded = [window for window in windows if window.status is RunStatus.SUCCESS]
    covered = merge([[window.start, window.end] for window in succeeded])
    return {
        "covered": covered,
        "gaps": subtract([start, end], covered),
        "overlaps": overlaps(succeeded),
        "failed": _entries(window for window in windows if window.status is RunStatus.FAILED),
        "pending": _entries(window for window in windows if not window.status.is_terminal()),
    }


def clipped_windows(runs: Iterable[Mapping[str, Any]], start: int, end: int) -> Iterable[RunWindow]:
    """The readable windows of ``runs`` that meet ``[start, end)``, clipped to it, with their run's status."""
    for run in runs:
        run_id = run.get("id")
        params = run.get("params") or {}
        window_start, window_end = _seconds(params.get("windowStartTime")), _seconds(params.get("windowEndTime"))
        if not isinstance(run_id, str) or window_start is None or window_end is None or window_end <= window_start:
            continue
        if window_start < end and window_end > start:
            created_at = run.get("createdAt")
            yield RunWindow(
                run_id=run_id,
                start=max(window_start, start),
                end=min(window_end, end),
                status=RunStatus.of_run(dict(run)),
                created_at=created_at if isinstance(created_at, int) and not isinstance(created_at, bool) else None,
            )


def _seconds(value: Any) -> int | None:
    """A window bound as Flow Service writes it (an int, or a string of digits); None if unreadable."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def merge(windows: Iterable[Sequence[int]]) -> list[list[int]]:
    """The union of ``[s, e)`` windows as sorted, disjoint, maximal ``[s, e]`` pairs (touching ones merge)."""
    merged: list[list[int]] = []
    for window_start, window_end in sorted((int(s), int(e)) for s, e in windows):
        if merged and window_start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], window_end)
        else:
            merged.append([window_start, window_end])
    return merged


def subtract(window: Sequence[int], covered: Sequence[Sequence[int]]) -> list[list[int]]:
    """``window`` minus the sorted, disjoint ``covered`` windows, as sorted maximal ``[s, e]`` pairs."""
    gaps: list[list[int]] = []
    position, window_end = window
    for covered_start, covered_end in covered:
        if covered_start > position:
            gaps.append([position, min(covered_start, window_end)])
        position = max(position, covered_end)
    if position < window_end:
        gaps.append([position, window_end])
    return [gap for gap in gaps if gap[0] < gap[1]]


def overlaps(succeeded: Sequence[RunWindow]) -> list[dict[str, Any]]:
    """The stretches two or more of ``succeeded`` cover, each with those runs' ids.

    The range is cut at every window boundary; a piece covered twice or more is an overlap, and
    touching pieces covered by the same runs are one overlap.
    """
    found: list[dict[str, Any]] = []
    boundaries = sorted({bound for window in succeeded for bound in (window.start, window.end)})
    for piece_start, piece_end in pairwise(boundaries):
        runs = sorted((w for w in succeeded if w.start <= piece_start and w.end >= piece_end), key=lambda w: w.order)
        if len(runs) < 2:
            continue
        run_ids = [window.run_id for window in runs]
        if found and found[-1]["window"][1] == piece_start and found[-1]["run_ids"] == run_ids:
            found[-1]["window"][1] = piece_end
        else:
            found.append({"window": [piece_start, piece_end], "run_ids": run_ids})
    return found


def _entries(windows: Iterable[RunWindow]) -> list[dict[str, Any]]:
    """``{"run_id", "window"}`` entries sorted by (window start, createdAt, id)."""
    ordered = sorted(windows, key=lambda window: (window.start, *window.order))
    return [{"run_id": window.run_id, "window": [window.start, window.end]} for window in ordered]


def uncovered_parts(entries: Iterable[Mapping[str, Any]], gaps: Sequence[Sequence[int]]) -> list[dict[str, Any]]:
    """The ``failed`` or ``pending`` entries whose window meets a gap, each with the gaps' parts it holds.

    :return: ``[{"run_id", "window", "uncovered": [[s, e], ...]}]``: ``uncovered`` is the part of
        the run's window that no succeeded run covers
    """
    found = []
    for entry in entries:
        entry_start, entry_end = entry["window"]
        parts = [[max(s, entry_start), min(e, entry_end)] for s, e in gaps if s < entry_end and e > entry_start]
        if parts:
            found.append({"run_id": entry["run_id"], "window": list(entry["window"]), "uncovered": parts})
    return found


def uncovered_failures(coverage: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Failed runs that left part of their window uncovered (see :func:`uncovered_parts`)."""
    return uncovered_parts(coverage["failed"], coverage["gaps"])


def uncovered_pending(coverage: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Unfinished runs whose window holds part of a gap, which they may still fill (see :func:`uncovered_parts`)."""
    return uncovered_parts(coverage.get("pending", ()), coverage["gaps"])


def describe_gap(gap: Sequence[int], coverage: Mapping[str, Any]) -> str:
    """A gap for a message, with the failed runs that left it and the unfinished runs that may fill it."""
    parts = [f"gap {format_window(gap)}"]
    for entry in uncovered_parts(coverage["failed"], [gap]):
        parts.append(f"run {entry['run_id']} failed for {format_windows(entry['uncovered'])}")
    for entry in uncovered_parts(coverage.get("pending", ()), [gap]):
        unfinished = format_windows(entry["uncovered"])
        parts.append(f"run {entry['run_id']} is still pending (scheduled or in progress) for {unfinished}")
    return "; ".join(parts)


def describe_overlap(overlap: Mapping[str, Any]) -> str:
    """An overlap for a message: its window and the runs that ingested it, oldest first."""
    return f"overlap {format_window(overlap['window'])} ingested by runs {', '.join(overlap['run_ids'])}"


def format_window(window: Sequence[int]) -> str:
    """``[s, e)`` for people: ISO-8601 UTC times next to the epoch seconds Flow Service uses."""
    window_start, window_end = window
    return f"[{_iso(window_start)}, {_iso(window_end)}) = epoch [{window_start}, {window_end})"


def format_windows(windows: Iterable[Sequence[int]]) -> str:
    """Several windows for one message, comma-separated (``none`` when there are none)."""
    return ", ".join(format_window(window) for window in windows) or "none"


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
