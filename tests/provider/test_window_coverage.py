"""Window coverage: the pure rules, the hook over HTTP, and agreement with the emulator's own report.

Every emulator scenario asserts the exact expected report, from the hook (``GET /runs`` over
loopback) and from the emulator's independent ``window_coverage``: the two must agree.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_flowrun.coverage import (
    describe_gap,
    describe_overlap,
    format_window,
    merge,
    subtract,
    uncovered_failures,
    uncovered_pending,
    window_coverage,
)
from airflow_flowrun.emulator import RECURRING_FLOW_ID, TABLE_FLOW_ID
from airflow_flowrun.exceptions import InvalidParameterError
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

#: 2026-01-01T00:00:00Z: every scenario's windows are hours after it, long past.
T = 1767225600
H = 3600


def run(run_id: str, start: Any, end: Any, status: Any = "success", created_at: Any = 1) -> dict[str, Any]:
    """A run object as ``GET /runs`` lists it, with only what coverage reads."""
    return {
        "id": run_id,
        "createdAt": created_at,
        "params": {"windowStartTime": start, "windowEndTime": end},
        "metrics": {"statusSummary": {"status": status}},
    }


def report(covered=(), gaps=(), overlaps=(), failed=(), pending=()) -> dict[str, Any]:
    return {
        "covered": list(covered),
        "gaps": list(gaps),
        "overlaps": list(overlaps),
        "failed": list(failed),
        "pending": list(pending),
    }


# -- the agreed examples and edge cases, without I/O ------------------------------------------------


def test_adjacent_windows_cover_the_range_without_gap_or_overlap():
    coverage = window_coverage([run("A", 0, 50), run("B", 50, 100)], 0, 100)
    assert coverage == report(covered=[[0, 100]])


def test_overlap_names_its_runs_oldest_first():
    runs = [run("B", 40, 100, created_at=2), run("A", 0, 60, created_at=1)]
    assert window_coverage(runs, 0, 100) == report(
        covered=[[0, 100]], overlaps=[{"window": [40, 60], "run_ids": ["A", "B"]}]
    )


def test_failed_and_pending_runs_leave_gaps_and_are_listed():
    runs = [run("A", 0, 30), run("C", 30, 60, "failed"), run("D", 60, 100, "inProgress")]
    assert window_coverage(runs, 0, 100) == report(
        covered=[[0, 30]],
        gaps=[[30, 100]],
        failed=[{"run_id": "C", "window": [30, 60]}],
        pending=[{"run_id": "D", "window": [60, 100]}],
    )


def test_windows_are_clipped_to_the_range():
    runs = [run("A", -50, 20), run("F", 90, 150, "failed")]
    assert window_coverage(runs, 0, 100) == report(
        covered=[[0, 20]], gaps=[[20, 100]], failed=[{"run_id": "F", "window": [90, 100]}]
    )


def test_runs_outside_the_range_or_touching_it_do_not_count():
    runs = [run("before", -10, 0), run("after", 100, 120), run("far", 500, 600, "failed")]
    assert window_coverage(runs, 0, 100) == report(gaps=[[0, 100]])


def test_unreadable_and_empty_windows_are_ignored():
    runs = [
        run("empty", 10, 10),
        run("reversed", 20, 10),
        run("float", 0.0, 100.0),
        run("text", "soon", "later"),
        run("negative text", "-5", "50"),
        {"id": "no params", "metrics": {"statusSummary": {"status": "success"}}},
        {"params": {"windowStartTime": 0, "windowEndTime": 100}, "metrics": {"statusSummary": {"status": "success"}}},
    ]
    assert window_coverage(runs, 0, 100) == report(gaps=[[0, 100]])


def test_windows_written_as_digit_strings_count():
    assert window_coverage([run("A", "0", "60")], 0, 100) == report(covered=[[0, 60]], gaps=[[60, 100]])


@pytest.mark.parametrize("status", ["success", "SUCCESS", "Success"])
def test_success_in_any_case_covers(status):
    assert window_coverage([run("A", 0, 100, status)], 0, 100)["covered"] == [[0, 100]]


@pytest.mark.parametrize("status", ["failed", "Failed", "FAILED"])
def test_failed_in_any_case_is_failed(status):
    assert window_coverage([run("A", 0, 100, status)], 0, 100)["failed"] == [{"run_id": "A", "window": [0, 100]}]


@pytest.mark.parametrize("status", ["scheduled", "inProgress", "queued", None, 3])
def test_any_other_status_is_pending(status):
    coverage = window_coverage([run("A", 0, 100, status)], 0, 100)
    assert coverage == report(gaps=[[0, 100]], pending=[{"run_id": "A", "window": [0, 100]}])


def test_a_run_without_metrics_is_pending():
    coverage = window_coverage([{"id": "A", "params": {"windowStartTime": 0, "windowEndTime": 9}}], 0, 10)
    assert coverage["pending"] == [{"run_id": "A", "window": [0, 9]}]


def test_three_runs_overlapping_in_part_give_one_overlap_per_run_set():
    runs = [run("A", 0, 20, created_at=1), run("B", 10, 30, created_at=2), run("C", 15, 40, created_at=3)]
    assert window_coverage(runs, 0, 40)["overlaps"] == [
        {"window": [10, 15], "run_ids": ["A", "B"]},
        {"window": [15, 20], "run_ids": ["A", "B", "C"]},
        {"window": [20, 30], "run_ids": ["B", "C"]},
    ]


def test_a_run_nested_in_two_duplicates_splits_their_overlap():
    runs = [run("A", 0, 40, created_at=1), run("B", 0, 40, created_at=2), run("C", 10, 20, created_at=3)]
    assert window_coverage(runs, 0, 40)["overlaps"] == [
        {"window": [0, 10], "run_ids": ["A", "B"]},
        {"window": [10, 20], "run_ids": ["A", "B", "C"]},
        {"window": [20, 40], "run_ids": ["A", "B"]},
    ]


def test_runs_created_in_the_same_millisecond_are_ordered_by_id():
    runs = [run("b", 0, 10, created_at=5), run("a", 0, 10, created_at=5), run("c", 0, 10, created_at=4)]
    assert window_coverage(runs, 0, 10)["overlaps"] == [{"window": [0, 10], "run_ids": ["c", "a", "b"]}]


def test_failed_runs_are_sorted_by_window_start_then_creation():
    runs = [
        run("late", 50, 60, "failed", created_at=1),
        run("second", 0, 10, "failed", created_at=2),
        run("first", 0, 30, "failed", created_at=1),
    ]
    assert [entry["run_id"] for entry in window_coverage(runs, 0, 100)["failed"]] == ["first", "second", "late"]


def test_a_run_listed_twice_counts_once_as_last_seen():
    runs = [run("A", 0, 100, "inProgress"), run("A", 0, 100, "success")]
    assert window_coverage(runs, 0, 100) == report(covered=[[0, 100]])


def test_touching_and_overlapping_windows_merge():
    assert merge([[10, 20], [0, 10], [15, 30], [40, 50]]) == [[0, 30], [40, 50]]


def test_subtract_leaves_the_uncovered_stretches():
    assert subtract([0, 100], [[10, 20], [30, 100]]) == [[0, 10], [20, 30]]
    assert subtract([0, 100], [[0, 100]]) == []


def test_uncovered_failures_ignore_failures_a_later_success_covered():
    runs = [run("F1", 0, 50, "failed"), run("S", 0, 50), run("F2", 40, 80, "failed"), run("P", 70, 100, "scheduled")]
    coverage = window_coverage(runs, 0, 100)
    assert uncovered_failures(coverage) == [{"run_id": "F2", "window": [40, 80], "uncovered": [[50, 80]]}]
    assert uncovered_pending(coverage) == [{"run_id": "P", "window": [70, 100], "uncovered": [[70, 100]]}]


def test_messages_give_iso_times_next_to_epoch_seconds():
    assert format_window([T, T + H]) == "[2026-01-01T00:00:00Z, 2026-01-01T01:00:00Z) = epoch [1767225600, 1767229200)"
    runs = [run("F", T, T + 2 * H, "failed"), run("P", T + H, T + 3 * H, "inProgress")]
    coverage = window_coverage(runs, T, T + 3 * H)
    assert describe_gap([T, T + 3 * H], coverage) == (
        f"gap {format_window([T, T + 3 * H])}; run F failed for {format_window([T, T + 2 * H])}; "
        f"run P is still pending (scheduled or in progress) for {format_window([T + H, T + 3 * H])}"
    )
    assert describe_overlap({"window": [T, T + H], "run_ids": ["A", "B"]}) == (
        f"overlap {format_window([T, T + H])} ingested by runs A, B"
    )


# -- the hook against the emulator ------------------------------------------------------------------


class Scenario:
    """Runs of the table flow made over HTTP with the hook's ``create_run``, one outcome each."""

    def __init__(self, emu: Any) -> None:
        self.emu = emu
        self.hook = AdobeFlowServiceHook()
        self.made = 0

    def add(self, start_h: float, end_h: float, outcome: str = "success", *, start_time: int | None = None) -> str:
        """A run of ``[T + start_h hours, T + end_h hours)``: ``success``, ``partial``, ``failed``,
        ``inProgress`` (an hour long) or ``scheduled`` (starting tomorrow)."""
        finished = outcome in ("success", "partial", "failed")
        outcome_now = outcome if finished else "success"
        self.emu.configure_flow(TABLE_FLOW_ID, outcome=outcome_now, duration=0 if finished else H)
        created = self.hook.create_run(
            TABLE_FLOW_ID,
            window_start=T + int(start_h * H),
            window_end=T + int(end_h * H),
            start_time=int(time.time()) + 86400 if outcome == "scheduled" else None,
            delta_column="updated_at" if self.made == 0 else None,
        )
        self.made += 1
        time.sleep(0.002)  # distinct createdAt milliseconds, so creation order is the expected order
        return created["id"]

    def check(self, start_h: float, end_h: float, expected: dict[str, Any]) -> None:
        """The hook and the emulator both report ``expected`` for ``[T + start_h h, T + end_h h)``."""
        start, end = T + int(start_h * H), T + int(end_h * H)
        assert self.hook.window_coverage(TABLE_FLOW_ID, start, end) == expected
        assert self.emu.window_coverage(TABLE_FLOW_ID, start, end) == expected


def w(start_h: float, end_h: float) -> list[int]:
    """``[s, e]`` of hours after :data:`T`."""
    return [T + int(start_h * H), T + int(end_h * H)]


@pytest.fixture
def scenario(aep_emulator) -> Scenario:
    return Scenario(aep_emulator)


def test_adjacent_runs_cover_the_range(scenario):
    scenario.add(0, 1)
    scenario.add(1, 2)
    scenario.check(0, 2, report(covered=[w(0, 2)]))


def test_gaps_between_and_after_runs(scenario):
    scenario.add(1, 2)
    scenario.add(3, 4)
    scenario.check(0, 5, report(covered=[w(1, 2), w(3, 4)], gaps=[w(0, 1), w(2, 3), w(4, 5)]))


def test_the_same_window_ingested_twice_overlaps_over_the_whole_window(scenario):
    first = scenario.add(0, 1)
    second = scenario.add(0, 1)
    scenario.check(0, 1, report(covered=[w(0, 1)], overlaps=[{"window": w(0, 1), "run_ids": [first, second]}]))


def test_three_runs_overlapping_in_part(scenario):
    a = scenario.add(0, 2)
    b = scenario.add(1, 3)
    c = scenario.add(1.5, 4)
    scenario.check(
        0,
        4,
        report(
            covered=[w(0, 4)],
            overlaps=[
                {"window": w(1, 1.5), "run_ids": [a, b]},
                {"window": w(1.5, 2), "run_ids": [a, b, c]},
                {"window": w(2, 3), "run_ids": [b, c]},
            ],
        ),
    )


def test_a_failed_window_covered_later_is_no_gap(scenario):
    failed = scenario.add(0, 1, "failed")
    scenario.add(0, 1)
    lost = scenario.add(1, 2, "failed")
    expected = report(
        covered=[w(0, 1)],
        gaps=[w(1, 2)],
        failed=[{"run_id": failed, "window": w(0, 1)}, {"run_id": lost, "window": w(1, 2)}],
    )
    scenario.check(0, 2, expected)
    assert uncovered_failures(expected) == [{"run_id": lost, "window": w(1, 2), "uncovered": [w(1, 2)]}]


def test_runs_in_progress_or_scheduled_are_pending_and_cover_nothing(scenario):
    scenario.add(0, 1)
    running = scenario.add(1, 2, "inProgress")
    later = scenario.add(2, 3, "scheduled")
    expected = report(
        covered=[w(0, 1)],
        gaps=[w(1, 3)],
        pending=[{"run_id": running, "window": w(1, 2)}, {"run_id": later, "window": w(2, 3)}],
    )
    scenario.check(0, 3, expected)


def test_windows_sticking_out_of_the_range_are_clipped(scenario):
    scenario.add(-1, 1)
    failed = scenario.add(1.5, 3, "failed")
    running = scenario.add(1.75, 6, "inProgress")
    scenario.add(2, 4)  # starts at the range's end: outside
    scenario.add(-3, 0)  # ends at the range's start: outside
    expected = report(
        covered=[w(0, 1)],
        gaps=[w(1, 2)],
        failed=[{"run_id": failed, "window": w(1.5, 2)}],
        pending=[{"run_id": running, "window": w(1.75, 2)}],
    )
    scenario.check(0, 2, expected)


def test_a_success_with_failed_records_counts_as_covered(scenario):
    scenario.add(0, 1, "partial")
    scenario.check(0, 1, report(covered=[w(0, 1)]))
    (partial,) = scenario.emu.runs(TABLE_FLOW_ID)
    assert partial["metrics"]["recordSummary"]["failedRecordCount"] > 0


def test_a_range_with_no_runs_is_one_gap(scenario):
    scenario.check(0, 24, report(gaps=[w(0, 24)]))
    scenario.add(30, 31)
    scenario.check(0, 24, report(gaps=[w(0, 24)]))


def test_every_page_of_runs_is_read(scenario):
    for hour in range(130):  # Flow Service pages hold 100 runs
        scenario.add(hour, hour + 1)
    scenario.check(0, 130, report(covered=[w(0, 130)]))
    listings = [r for r in scenario.emu.requests if r.method == "GET" and r.path.endswith("/runs")]
    assert len(listings) == 2


def test_runs_aep_started_itself_are_ordered_by_creation_then_id(aep_emulator):
    made_at = time.time() - 3600

    def aep_run(start_h: float, end_h: float, outcome: str = "success", **kwargs: Any) -> str:
        return aep_emulator.add_run(
            RECURRING_FLOW_ID, window_start=w(start_h, end_h)[0], window_end=w(start_h, end_h)[1], outcome=outcome,
            **{"created_at": made_at, "duration": 0, **kwargs},
        )["id"]  # fmt: skip

    twins = sorted(aep_run(0, 1) for _ in range(2))  # the same createdAt: the ids decide
    oldest = aep_run(0, 1, created_at=made_at - 60)  # listed last, created first
    failed = aep_run(1, 2, "failed")
    running = aep_run(2, 3, created_at=time.time(), duration=H)
    created = {run["id"]: run["createdAt"] for run in aep_emulator.runs(RECURRING_FLOW_ID)}
    assert created[twins[0]] == created[twins[1]] > created[oldest]
    expected = report(
        covered=[w(0, 1)],
        gaps=[w(1, 3)],
        overlaps=[{"window": w(0, 1), "run_ids": [oldest, *twins]}],
        failed=[{"run_id": failed, "window": w(1, 2)}],
        pending=[{"run_id": running, "window": w(2, 3)}],
    )
    assert AdobeFlowServiceHook().window_coverage(RECURRING_FLOW_ID, *w(0, 3)) == expected
    assert aep_emulator.window_coverage(RECURRING_FLOW_ID, *w(0, 3)) == expected


# -- the hook's checks before any HTTP call ---------------------------------------------------------


@pytest.mark.parametrize(
    ("flow_id", "start", "end", "param"),
    [
        ("not-a-flow", T, T + H, "flow_id"),
        (TABLE_FLOW_ID, datetime(2026, 1, 1), T + H, "start"),
        (TABLE_FLOW_ID, T, "2026-01-01T01:00:00", "end"),
        (TABLE_FLOW_ID, T * 1000, T + H, "start"),
        (TABLE_FLOW_ID, T + H, T, "end"),
        (TABLE_FLOW_ID, T, T, "end"),
    ],
)
def test_bad_arguments_fail_naming_the_parameter_before_any_call(aep_emulator, flow_id, start, end, param):
    with pytest.raises(InvalidParameterError) as raised:
        AdobeFlowServiceHook().window_coverage(flow_id, start, end)
    assert raised.value.param == param
    assert aep_emulator.requests == []


def test_the_range_may_be_aware_datetimes_or_iso_strings(scenario):
    scenario.add(0, 1)
    by_datetime = scenario.hook.window_coverage(TABLE_FLOW_ID, datetime(2026, 1, 1, tzinfo=UTC), "2026-01-01T02:00:00Z")
    assert by_datetime == report(covered=[w(0, 1)], gaps=[w(1, 2)])
