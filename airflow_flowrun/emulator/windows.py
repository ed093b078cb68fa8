"""Which data windows a flow has ingested, and the gaps and overlaps between them.

:func:`window_report` describes every ingested window of a flow; :func:`window_coverage` answers
for one range with the semantics agreed with the provider's ``AdobeFlowServiceHook.window_coverage``
(written separately, from the same rules, so the two can check each other).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any


def check_range(start: Any, end: Any, names: tuple[str, str] = ("start", "end")) -> tuple[int, int]:
    """Integer epoch seconds with ``end > start``.

    :param names: the parameter names the errors use.
    :raises ValueError: naming the parameter and the value.
    """
    for name, value in zip(names, (start, end), strict=True):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer (epoch seconds), got {value!r}")
    if end <= start:
        raise ValueError(f"{names[1]} must be after {names[0]}, got {names[0]}={start}, {names[1]}={end}")
    return start, end


def window_report(windows: Iterable[tuple[int, int]]) -> dict[str, Any]:
    """Sort ingested ``[start, end)`` windows and find the gaps and overlaps between them.

    A gap is a stretch between the earliest start and the latest end that no window covers; an
    overlap is a stretch covered by a window and by an earlier-starting one (two runs of the same
    window overlap over the whole window). Adjacent windows (``end == next start``) neither gap
    nor overlap.

    :param windows: ``(window_start, window_end)`` pairs in epoch seconds, any order.
    :return: ``{"windows": [[s, e], ...], "gaps": [[s, e], ...], "overlaps": [[s, e], ...]}``.
    """
    ordered = sorted(windows)
    gaps: list[list[int]] = []
    overlaps: list[list[int]] = []
    covered_until: int | None = None
    for start, end in ordered:
        if covered_until is not None:
            if start > covered_until:
                gaps.append([covered_until, start])
            elif start < covered_until:
                overlaps.append([start, min(end, covered_until)])
        covered_until = end if covered_until is None else max(covered_until, end)
    return {"windows": [[start, end] for start, end in ordered], "gaps": gaps, "overlaps": overlaps}


@dataclass(frozen=True)
class RunWindow:
    """What coverage reads of one run, as the API shows it.

    :param run_id: the run id.
    :param created_at_ms: ``createdAt`` (epoch milliseconds), with the id the order of run ids.
    :param window_start: ``params.windowStartTime``.
    :param window_end: ``params.windowEndTime``.
    :param status: ``metrics.statusSummary.status``.
    """

    run_id: str
    created_at_ms: int
    window_start: int
    window_end: int
    status: str


def _merged(intervals: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Sorted, disjoint, maximal ``[s, e]``: overlapping or touching intervals become one."""
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def _complement(covered: list[list[int]], start: int, end: int) -> list[list[int]]:
    gaps: list[list[int]] = []
    position = start
    for covered_start, covered_end in covered:
        if covered_start > position:
            gaps.append([position, covered_start])
        position = max(position, covered_end)
    if position < end:
        gaps.append([position, end])
    return gaps


def _overlaps(succeeded: list[tuple[RunWindow, int, int]]) -> list[dict[str, Any]]:
    """Stretches under two or more succeeded windows, each with the runs covering it.

    A sweep over every window boundary: between two consecutive boundaries the set of covering
    runs is constant; consecutive stretches with the same set (of two or more runs) merge.
    """
    order = {run.run_id: (run.created_at_ms, run.run_id) for run, _, _ in succeeded}
    starts: dict[int, list[str]] = {}
    ends: dict[int, list[str]] = {}
    for run, clipped_start, clipped_end in succeeded:
        starts.setdefault(clipped_start, []).append(run.run_id)
        ends.setdefault(clipped_end, []).append(run.run_id)
    active: set[str] = set()
    overlaps: list[dict[str, Any]] = []
    previous_set: frozenset[str] = frozenset()
    boundaries = sorted(set(starts) | set(ends))
    for point, following in pairwise(boundaries):
        active.difference_update(ends.get(point, []))
        active.update(starts.get(point, []))
        covering = frozenset(active) if len(active) >= 2 else frozenset()
        if covering and covering == previous_set:
            overlaps[-1]["window"][1] = following
        elif covering:
            run_ids = sorted(covering, key=order.__getitem__)
            overlaps.append({"window": [point, following], "run_ids": run_ids})
        previous_set = covering
    return overlaps


def window_coverage(runs: Iterable[RunWindow], start: int, end: int) -> dict[str, Any]:
    """How a flow's runs cover ``[start, end)``: the agreed semantics the provider's hook also follows.

    Runs whose window is empty or reversed, or misses the range, are ignored; windows are
    clipped to the range. ``success`` (partial ingestion included) counts as ingested, ``failed``
    as failed, any other status as pending; statuses compare case-insensitively.

    :param runs: the flow's runs.
    :param start: range start, epoch seconds (inclusive).
    :param end: range end, epoch seconds (exclusive), after ``start``.
    :return: ``{"covered": [[s, e], ...], "gaps": [[s, e], ...], "overlaps": [{"window": [s, e],
        "run_ids": [...]}, ...], "failed": [{"run_id", "window"}, ...], "pending": [...]}``:
        covered and gaps merged and sorted; overlap run ids by (createdAt, id); failed and
        pending sorted by (clipped window start, createdAt, id).
    """
    succeeded: list[tuple[RunWindow, int, int]] = []
    unfinished: dict[str, list[tuple[RunWindow, int, int]]] = {"failed": [], "pending": []}
    for run in runs:
        if run.window_end <= run.window_start or run.window_start >= end or run.window_end <= start:
            continue
        clipped = (run, max(run.window_start, start), min(run.window_end, end))
        status = run.status.casefold()
        if status == "success":
            succeeded.append(clipped)
        else:
            unfinished["failed" if status == "failed" else "pending"].append(clipped)
    covered = _merged((clipped_start, clipped_end) for _, clipped_start, clipped_end in succeeded)
    listed = {
        name: [
            {"run_id": run.run_id, "window": [clipped_start, clipped_end]}
            for run, clipped_start, clipped_end in sorted(
                entries, key=lambda entry: (entry[1], entry[0].created_at_ms, entry[0].run_id)
            )
        ]
        for name, entries in unfinished.items()
    }
    return {
        "covered": covered,
        "gaps": _complement(covered, start, end),
        "overlaps": _overlaps(succeeded),
        "failed": listed["failed"],
        "pending": listed["pending"],
    }
