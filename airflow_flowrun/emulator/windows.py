"""Which data windows a flow has ingested, and the gaps and overlaps between them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


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
