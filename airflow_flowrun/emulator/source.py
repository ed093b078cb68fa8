"""Synthetic, deterministic source data behind each flow, and what a run of a window ingests.

A table source holds one row every :data:`~.seeds.ROW_INTERVAL_SECONDS` seconds of epoch time
(its timestamp is the row's delta column value); a file source holds one file every
:data:`~.seeds.FILE_INTERVAL_SECONDS` seconds (its modification time). A run ingests the rows or
files whose timestamp ``t`` satisfies ``windowStartTime <= t < windowEndTime``.

Row sizes and file record counts/sizes come from a hash of the flow id and the item's position
in a repeating cycle of :data:`CYCLE` items, so any window — even centuries long, as in Adobe's
tutorial — is counted in constant time and always gives the same numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from airflow_flowrun.emulator.seeds import FILE_INTERVAL_SECONDS, ROW_INTERVAL_SECONDS

CYCLE = 96
#: Table sources are read in pages of this many rows; each page counts as one input file.
ROWS_PER_PAGE = 10_000
#: Output bytes are this fraction (numerator/denominator) of input bytes (columnar compression).
OUTPUT_RATIO = (7, 10)
#: A "partial" run rejects one record in this many (at least one when the window is not empty).
PARTIAL_REJECT_EVERY = 25
#: The metrics a run reports, keyed as in Adobe's run ``metrics``; what ``counts=`` may override.
COUNT_KEYS: tuple[str, ...] = (
    "inputRecordCount", "outputRecordCount", "failedRecordCount",
    "inputFileCount", "outputFileCount", "failedFileCount",
    "inputBytes", "outputBytes",
)  # fmt: skip
#: ``counts=`` also takes the run summary's names (the ``flow_run`` XCom) for the same metrics.
SUMMARY_COUNT_NAMES: dict[str, str] = {
    "input_records": "inputRecordCount", "output_records": "outputRecordCount", "failed_records": "failedRecordCount",
    "input_files": "inputFileCount", "output_files": "outputFileCount", "failed_files": "failedFileCount",
    "input_bytes": "inputBytes", "output_bytes": "outputBytes",
}  # fmt: skip


@dataclass(frozen=True)
class SourceTotals:
    """Raw content of a source inside a window: items (rows or files), records and bytes."""

    items: int
    records: int
    input_bytes: int


@dataclass(frozen=True)
class _Cycle:
    interval: int
    records_prefix: tuple[int, ...]
    bytes_prefix: tuple[int, ...]

    def _cumulative(self, prefix: tuple[int, ...], index: int) -> int:
        full, rest = divmod(index, CYCLE)
        return full * prefix[CYCLE] + prefix[rest]

    def totals(self, window_start: int, window_end: int) -> SourceTotals:
        first = -(-window_start // self.interval)
        stop = -(-window_end // self.interval)
        if stop <= first:
            return SourceTotals(0, 0, 0)
        records = self._cumulative(self.records_prefix, stop) - self._cumulative(self.records_prefix, first)
        size = self._cumulative(self.bytes_prefix, stop) - self._cumulative(self.bytes_prefix, first)
        return SourceTotals(stop - first, records, size)


def _digest(flow_id: str, position: int) -> int:
    return int.from_bytes(hashlib.blake2b(f"{flow_id}:{position}".encode(), digest_size=8).digest(), "big")


def _prefix_sums(values: list[int]) -> tuple[int, ...]:
    sums = [0]
    for value in values:
        sums.append(sums[-1] + value)
    return tuple(sums)


@lru_cache(maxsize=256)
def _cycle(flow_id: str, kind: str) -> _Cycle:
    digests = [_digest(flow_id, position) for position in range(CYCLE)]
    if kind == "table":
        records = [1] * CYCLE
        sizes = [180 + digest % 161 for digest in digests]
        return _Cycle(ROW_INTERVAL_SECONDS, _prefix_sums(records), _prefix_sums(sizes))
    records = [200 + digest % 1001 for digest in digests]
    sizes = [count * (90 + (digest >> 16) % 41) for count, digest in zip(records, digests, strict=True)]
    return _Cycle(FILE_INTERVAL_SECONDS, _prefix_sums(records), _prefix_sums(sizes))


def source_totals(flow_id: str, kind: str, window_start: int, window_end: int) -> SourceTotals:
    """Count the rows or files of a flow's source inside ``[window_start, window_end)``.

    :param flow_id: the flow owning the source (seeds the sizes).
    :param kind: ``"table"`` or ``"file"``.
    :param window_start: inclusive lower bound, epoch seconds.
    :param window_end: exclusive upper bound, epoch seconds.
    """
    return _cycle(flow_id, kind).totals(window_start, window_end)


def run_counts(kind: str, totals: SourceTotals, outcome: str) -> dict[str, int]:
    """Metrics of a finished run over ``totals``, keyed like Adobe's run metrics.

    ``success`` ingests everything; ``partial`` rejects one record in :data:`PARTIAL_REJECT_EVERY`;
    ``failed`` reads the input and writes nothing (every record and file counts as failed).

    :param kind: ``"table"`` or ``"file"``.
    :param totals: the source content of the run's window.
    :param outcome: ``"success"``, ``"partial"`` or ``"failed"``.
    """
    files = totals.items if kind == "file" else -(-totals.records // ROWS_PER_PAGE)
    records = totals.records
    if outcome == "failed":
        failed_records, output_records, output_files = records, 0, 0
    elif outcome == "partial":
        failed_records = max(1, records // PARTIAL_REJECT_EVERY) if records else 0
        output_records, output_files = records - failed_records, files
    else:
        failed_records, output_records, output_files = 0, records, files
    numerator, denominator = OUTPUT_RATIO
    written_bytes = totals.input_bytes * numerator // denominator
    output_bytes = written_bytes * output_records // records if records else 0
    return {
        "inputRecordCount": records,
        "outputRecordCount": output_records,
        "failedRecordCount": failed_records,
        "inputFileCount": files,
        "outputFileCount": output_files,
        "failedFileCount": files - output_files,
        "inputBytes": totals.input_bytes,
        "outputBytes": output_bytes,
    }


def check_counts(counts: Any) -> dict[str, int]:
    """Validate metric overrides (``counts=`` of ``add_run`` and ``configure_flow``).

    :param counts: a mapping of metrics to integers >= 0, named as in Adobe's run metrics
        (:data:`COUNT_KEYS`) or as in the run summary (:data:`SUMMARY_COUNT_NAMES`).
    :return: a copy keyed by Adobe's names.
    :raises ValueError: naming ``counts`` and the offending key or value.
    """
    if not isinstance(counts, Mapping):
        raise ValueError(f"counts must be a mapping of {list(COUNT_KEYS)} to integers, got {counts!r}")
    unknown = sorted(set(counts) - set(COUNT_KEYS) - set(SUMMARY_COUNT_NAMES))
    if unknown:
        raise ValueError(
            f"counts has unknown metrics {unknown}; known: {list(COUNT_KEYS)} or {list(SUMMARY_COUNT_NAMES)}"
        )
    checked: dict[str, int] = {}
    named: Mapping[str, Any] = counts
    for key, value in named.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"counts[{key!r}] must be an integer >= 0, got {value!r}")
        checked[SUMMARY_COUNT_NAMES.get(key, key)] = value
    return checked
