"""Per-flow report of ingested windows, with gaps and overlaps, and the window coverage of a range."""

from __future__ import annotations

import random
import time

import pytest
import requests

from airflow_flowrun.emulator import FAILING_FLOW_ID, FILE_FLOW_ID, ROW_ERRORS_FLOW_ID
from airflow_flowrun.emulator.windows import RunWindow, window_coverage, window_report


def test_window_report_lists_gaps_and_overlaps_of_successful_runs(emu, client):
    windows = [(0, 900), (900, 1800), (2700, 3600), (3000, 3300), (2700, 3600)]
    run_ids = [client.run_id(FILE_FLOW_ID, window) for window in windows]
    for run_id in run_ids:
        client.wait_for_status(run_id, {"success"})

    report = emu.window_report(FILE_FLOW_ID)

    assert report["windows"] == [[0, 900], [900, 1800], [2700, 3600], [2700, 3600], [3000, 3300]]
    assert report["gaps"] == [[1800, 2700]]
    assert report["overlaps"] == [[2700, 3600], [3000, 3300]]


def test_runs_still_in_progress_and_failed_runs_are_not_ingested(emu, client):
    emu.configure_flow(FILE_FLOW_ID, fail_first=1)
    failed = client.run_id(FILE_FLOW_ID, (0, 900))
    client.wait_for_status(failed, {"failed"})
    emu.configure_flow(FILE_FLOW_ID, duration=30)
    client.run_id(FILE_FLOW_ID, (900, 1800))

    assert emu.window_report(FILE_FLOW_ID) == {"windows": [], "gaps": [], "overlaps": []}
    assert emu.window_report(FAILING_FLOW_ID)["windows"] == []


def test_partial_runs_count_as_ingested(emu, client):
    client.wait_for_status(client.run_id(ROW_ERRORS_FLOW_ID, (0, 900)), {"success"})

    assert emu.window_report(ROW_ERRORS_FLOW_ID)["windows"] == [[0, 900]]


def test_window_report_of_unknown_flow_raises_key_error(emu):
    with pytest.raises(KeyError, match="no-such-flow"):
        emu.window_report("no-such-flow")


@pytest.mark.parametrize(
    ("windows", "gaps", "overlaps"),
    [
        ([], [], []),
        ([(10, 20), (0, 10)], [], []),
        ([(0, 10), (5, 15)], [], [[5, 10]]),
        ([(0, 100), (10, 20), (30, 40)], [], [[10, 20], [30, 40]]),
        ([(0, 10), (20, 30), (40, 50)], [[10, 20], [30, 40]], []),
    ],
)
def test_window_report_arithmetic(windows, gaps, overlaps):
    report = window_report(windows)

    assert report["gaps"] == gaps
    assert report["overlaps"] == overlaps
    assert report["windows"] == sorted([list(window) for window in windows])


# -- window coverage: the rules agreed with the provider's hook --------------------------------


def _run(run_id, window, status="success", created_ms=0):
    return RunWindow(run_id, created_ms, window[0], window[1], status)


EMPTY = {"covered": [], "gaps": [[0, 100]], "overlaps": [], "failed": [], "pending": []}


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        (
            [_run("A", (0, 50)), _run("B", (50, 100), created_ms=1)],
            {"covered": [[0, 100]], "gaps": [], "overlaps": []},
        ),
        (
            [_run("A", (0, 60)), _run("B", (40, 100), created_ms=1)],
            {"covered": [[0, 100]], "gaps": [], "overlaps": [{"window": [40, 60], "run_ids": ["A", "B"]}]},
        ),
        (
            [_run("A", (0, 30)), _run("C", (30, 60), "failed", 1), _run("D", (60, 100), "inProgress", 2)],
            {
                "covered": [[0, 30]],
                "gaps": [[30, 100]],
                "failed": [{"run_id": "C", "window": [30, 60]}],
                "pending": [{"run_id": "D", "window": [60, 100]}],
            },
        ),
        ([_run("A", (-50, 20))], {"covered": [[0, 20]], "gaps": [[20, 100]]}),
    ],
    ids=["adjacent", "overlapping", "failed-and-pending", "clipped"],
)
def test_coverage_follows_the_agreed_examples(runs, expected):
    assert window_coverage(runs, 0, 100) == {**EMPTY, **expected}


def test_coverage_ignores_runs_outside_the_range_and_empty_or_reversed_windows():
    runs = [
        _run("before", (-10, 0)),
        _run("after", (100, 200)),
        _run("empty", (30, 30)),
        _run("reversed", (60, 40)),
        _run("failed-outside", (100, 110), "failed"),
    ]

    assert window_coverage(runs, 0, 100) == EMPTY


def test_coverage_reads_statuses_case_insensitively_and_anything_unknown_as_pending():
    runs = [
        _run("a", (0, 10), "Success"),
        _run("b", (10, 20), "FAILED"),
        _run("c", (20, 30), "scheduled"),
        _run("d", (30, 40), "queued"),
    ]

    report = window_coverage(runs, 0, 40)

    assert report["covered"] == [[0, 10]]
    assert report["failed"] == [{"run_id": "b", "window": [10, 20]}]
    assert [entry["run_id"] for entry in report["pending"]] == ["c", "d"]


def test_overlaps_split_where_the_set_of_covering_runs_changes():
    runs = [_run("A", (0, 100), created_ms=3), _run("B", (20, 60), created_ms=1), _run("C", (40, 80), created_ms=2)]

    report = window_coverage(runs, 0, 100)

    assert report["covered"] == [[0, 100]]
    assert report["overlaps"] == [
        {"window": [20, 40], "run_ids": ["B", "A"]},
        {"window": [40, 60], "run_ids": ["B", "C", "A"]},
        {"window": [60, 80], "run_ids": ["C", "A"]},
    ]


def test_two_runs_of_one_window_overlap_over_all_of_it_ordered_by_created_at_then_id():
    runs = [_run("z", (0, 50), created_ms=5), _run("b", (0, 50), created_ms=5), _run("a", (0, 50), created_ms=9)]

    report = window_coverage(runs, 0, 50)

    assert report["overlaps"] == [{"window": [0, 50], "run_ids": ["b", "z", "a"]}]
    assert report["gaps"] == []


def test_overlaps_separated_by_single_coverage_stay_apart():
    runs = [_run("A", (0, 100)), _run("B", (10, 20), created_ms=1), _run("C", (30, 40), created_ms=2)]

    assert window_coverage(runs, 0, 100)["overlaps"] == [
        {"window": [10, 20], "run_ids": ["A", "B"]},
        {"window": [30, 40], "run_ids": ["A", "C"]},
    ]


def test_failed_and_pending_runs_sort_by_clipped_start_then_created_at_then_id():
    runs = [
        _run("late", (50, 60), "failed", 1),
        _run("y", (-30, 10), "failed", 4),
        _run("x", (-90, 10), "failed", 4),
        _run("first", (-10, 10), "failed", 2),
    ]

    failed = window_coverage(runs, 0, 100)["failed"]

    assert [entry["run_id"] for entry in failed] == ["first", "x", "y", "late"]
    assert failed[1]["window"] == [0, 10]


def test_gaps_and_coverage_merge_across_unsorted_touching_and_nested_windows():
    runs = [_run("c", (70, 80)), _run("a", (10, 30)), _run("b", (30, 40)), _run("n", (12, 14))]

    report = window_coverage(runs, 0, 100)

    assert report["covered"] == [[10, 40], [70, 80]]
    assert report["gaps"] == [[0, 10], [40, 70], [80, 100]]
    assert report["overlaps"] == [{"window": [12, 14], "run_ids": ["a", "n"]}]


def test_emulator_coverage_reads_its_runs_as_the_api_shows_them(emu):
    now = int(time.time())
    flow_id = emu.add_flow(kind="file", frequency="hour")
    first = emu.add_run(flow_id, window_start=0, window_end=60, created_at=now - 100)
    second = emu.add_run(flow_id, window_start=40, window_end=100, created_at=now - 90)
    failed = emu.add_run(flow_id, window_start=100, window_end=150, created_at=now - 80, outcome="failed")
    partial = emu.add_run(flow_id, window_start=150, window_end=180, created_at=now - 70, outcome="partial")
    running = emu.add_run(flow_id, window_start=180, window_end=200, created_at=now, duration=60)
    emu.add_run(flow_id, window_start=0, window_end=300, created_at=now + 60)  # not created yet: not visible

    report = emu.window_coverage(flow_id, 0, 300)

    assert report == {
        "covered": [[0, 100], [150, 180]],
        "gaps": [[100, 150], [180, 300]],
        "overlaps": [{"window": [40, 60], "run_ids": [first["id"], second["id"]]}],
        "failed": [{"run_id": failed["id"], "window": [100, 150]}],
        "pending": [{"run_id": running["id"], "window": [180, 200]}],
    }
    assert partial["id"] not in str(report["failed"])


def test_coverage_through_the_admin_api_and_its_errors(emu):
    flow_id = emu.add_flow(kind="table", frequency="day")
    emu.add_run(flow_id, window_start=10, window_end=20, created_at=time.time() - 10)
    admin = f"{emu.url}/_emulator/flows"

    with requests.Session() as session:
        answer = session.get(f"{admin}/{flow_id}/coverage", params={"start": 0, "end": 30})
        assert answer.status_code == 200
        assert answer.json() == emu.window_coverage(flow_id, 0, 30)
        assert answer.json()["gaps"] == [[0, 10], [20, 30]]
        reversed_range = session.get(f"{admin}/{flow_id}/coverage", params={"start": 30, "end": 30})
        assert reversed_range.status_code == 400
        assert "end must be after start" in reversed_range.json()["detail"]
        assert session.get(f"{admin}/{flow_id}/coverage", params={"start": 0}).status_code == 400
        assert session.get(f"{admin}/no-such-flow/coverage", params={"start": 0, "end": 1}).status_code == 404


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [(10, 10, "end must be after start"), ("0", 10, "start must be an integer"), (0, 1.5, "end must be an integer")],
)
def test_coverage_range_errors_name_the_parameter(emu, start, end, words):
    with pytest.raises(ValueError, match=words):
        emu.window_coverage(FILE_FLOW_ID, start, end)


def test_coverage_of_unknown_flow_raises_key_error(emu):
    with pytest.raises(KeyError, match="no-such-flow"):
        emu.window_coverage("no-such-flow", 0, 10)


@pytest.mark.parametrize("seed", range(20))
def test_emulator_coverage_agrees_with_the_providers_rules_on_random_flows(emu, client, seed):
    """The provider's ``airflow_flowrun.coverage`` reads the runs as ``GET /runs`` lists them; the
    emulator reads its own records: two implementations of one set of rules must agree."""
    from airflow_flowrun.coverage import window_coverage as provider_coverage

    rng = random.Random(seed)
    flow_id = emu.add_flow(kind="file", frequency="hour")
    now = time.time()
    for index in range(rng.randint(1, 10)):
        start = rng.randrange(-60, 150, 10)
        outcome = rng.choice(["success", "success", "partial", "failed", "running"])
        emu.add_run(
            flow_id,
            window_start=start,
            window_end=start + rng.randrange(10, 80, 10),
            created_at=now - 500 + rng.choice([index, 0]),
            outcome="success" if outcome == "running" else outcome,
            duration=600 if outcome == "running" else 0,
        )
    listed = client.request("GET", "/runs", params={"property": f"flowId=={flow_id}"}).json()["items"]

    assert emu.window_coverage(flow_id, 0, 100) == provider_coverage(listed, 0, 100)
