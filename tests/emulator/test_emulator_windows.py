"""Per-flow report of ingested windows, with gaps and overlaps."""

from __future__ import annotations

import pytest

from airflow_flowrun.emulator import FAILING_FLOW_ID, FILE_FLOW_ID, ROW_ERRORS_FLOW_ID
from airflow_flowrun.emulator.windows import window_report


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
