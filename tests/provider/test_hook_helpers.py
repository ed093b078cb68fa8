"""The hook helpers DAG authors reach for: ``wait_for_run`` and ``get_latest_run``, over HTTP to the emulator."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from airflow_flowrun.emulator import FAILING_FLOW_ID, FILE_FLOW_ID
from airflow_flowrun.exceptions import (
    FlowRunFailedError,
    FlowRunTimeoutError,
    FlowServiceFatalError,
    InvalidParameterError,
)
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

HOUR = 3600
START = 1795824000


def create(flow_id: str = FILE_FLOW_ID, hour: int = 0) -> str:
    """A run of ``flow_id`` for the ``hour``-th hour after START."""
    window = {"window_start": START + hour * HOUR, "window_end": START + (hour + 1) * HOUR}
    return AdobeFlowServiceHook().create_run(flow_id, **window)["id"]


def run_listings(emu) -> list:
    return [r for r in emu.requests if r.method == "GET" and r.path.endswith("/runs")]


# -- wait_for_run --


def test_wait_for_run_returns_the_summary_of_the_succeeded_run(emu):
    run_id = create()
    summary = AdobeFlowServiceHook().wait_for_run(run_id, poll_interval=0.1, timeout=30)

    (run,) = emu.runs(FILE_FLOW_ID)
    assert (summary["run_id"], summary["flow_id"], summary["status"]) == (run_id, FILE_FLOW_ID, "success")
    assert (summary["window_start"], summary["window_end"]) == (START, START + HOUR)
    assert summary["output_records"] == run["metrics"]["recordSummary"]["outputRecordCount"] > 0
    assert summary["ui_url"].endswith(f"/dataflows/{FILE_FLOW_ID}/activity/{run_id}")
    assert len([r for r in emu.requests if r.path.endswith(f"/runs/{run_id}")]) >= 2, "it polled until the end"


def test_wait_for_run_raises_on_a_failed_run(emu):
    run_id = create(FAILING_FLOW_ID)
    with pytest.raises(FlowRunFailedError) as info:
        AdobeFlowServiceHook().wait_for_run(run_id, poll_interval=0.1, timeout=30)

    assert info.value.run_id == run_id
    assert info.value.status == "failed"
    assert info.value.errors[0]["code"] == "CONNECTOR-1001-500"
    assert f"/activity/{run_id}" in str(info.value)


def test_wait_for_run_returns_a_failed_runs_summary_when_asked_not_to_raise(emu):
    run_id = create(FAILING_FLOW_ID)
    summary = AdobeFlowServiceHook().wait_for_run(
        run_id, poll_interval=timedelta(milliseconds=100), timeout=timedelta(seconds=30), raise_on_failure=False
    )

    assert (summary["run_id"], summary["status"]) == (run_id, "failed")
    assert summary["errors"][0]["code"] == "CONNECTOR-1001-500"


@pytest.mark.parametrize("timeout", [1, timedelta(seconds=1)])
def test_wait_for_run_times_out_naming_the_run_its_status_and_its_page(emu, timeout):
    emu.configure_flow(FILE_FLOW_ID, duration=30)
    run_id = create()
    with pytest.raises(FlowRunTimeoutError) as info:
        AdobeFlowServiceHook().wait_for_run(run_id, poll_interval=0.2, timeout=timeout)

    text = str(info.value)
    assert f"Waiting for flow run {run_id} timed out; its last status was 'inProgress'" in text
    assert "cannot cancel" in text
    assert text.endswith(f"/dataflows/{FILE_FLOW_ID}/activity/{run_id}")


def test_wait_for_run_takes_a_404_soon_after_creation_as_not_visible_yet(emu):
    unknown = "6b815d80-e9fd-4cd6-b9e8-a1fa1142e7c7"
    hook = AdobeFlowServiceHook()
    with pytest.raises(FlowServiceFatalError) as info:
        hook.wait_for_run(unknown, poll_interval=0.2, timeout=5)  # not created by the caller: missing
    assert info.value.status == 404

    with pytest.raises(FlowRunTimeoutError, match=f"flow run {unknown} timed out; its last status was 'unknown'"):
        hook.wait_for_run(unknown, poll_interval=0.2, timeout=1, created_at=time.time())
    assert len([r for r in emu.requests if r.path.endswith(f"/runs/{unknown}")]) >= 3


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"run_id": "not-a-run"}, "run_id"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": "30"}, "poll_interval"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": timedelta(0)}, "timeout"),
    ],
)
def test_wait_for_run_refuses_bad_arguments_before_any_call(emu, kwargs, param):
    arguments = {"run_id": "6b815d80-e9fd-4cd6-b9e8-a1fa1142e7c7", **kwargs}
    run_id = arguments.pop("run_id")
    with pytest.raises(InvalidParameterError) as info:
        AdobeFlowServiceHook().wait_for_run(run_id, **arguments)

    assert info.value.param == param
    assert str(info.value).startswith(f"{param}=")
    assert emu.requests == []


# -- get_latest_run --


def test_get_latest_run_is_the_newest_run_as_get_run_returns_it(emu):
    emu.configure_flow(FILE_FLOW_ID, duration=0)
    for hour in (5, 1, 3):  # created in this order: the newest is not the latest window
        newest = create(hour=hour)
    hook = AdobeFlowServiceHook()
    latest = hook.get_latest_run(FILE_FLOW_ID)

    assert latest == hook.get_run(newest)
    assert latest["params"]["windowStartTime"] == START + 3 * HOUR
    assert len(run_listings(emu)) == 1


def test_get_latest_run_with_a_status_is_the_newest_run_with_it_in_any_case(emu):
    emu.configure_flow(FILE_FLOW_ID, duration=0, fail_first=1)
    failed = create(hour=0)
    succeeded = create(hour=1)
    emu.configure_flow(FILE_FLOW_ID, duration=60)
    running = create(hour=2)
    hook = AdobeFlowServiceHook()

    assert hook.get_latest_run(FILE_FLOW_ID)["id"] == running
    assert hook.get_latest_run(FILE_FLOW_ID, status="inProgress")["id"] == running
    assert hook.get_latest_run(FILE_FLOW_ID, status="SUCCESS")["id"] == succeeded
    assert hook.get_latest_run(FILE_FLOW_ID, status="Failed")["id"] == failed
    assert hook.get_latest_run(FILE_FLOW_ID, status="scheduled") is None


def test_get_latest_run_is_none_for_a_flow_without_runs(emu):
    assert AdobeFlowServiceHook().get_latest_run(FILE_FLOW_ID) is None
    assert len(run_listings(emu)) == 1


def test_get_latest_run_pages_only_until_the_first_match(emu):
    emu.update_settings(page_size=2)
    emu.configure_flow(FILE_FLOW_ID, duration=0, fail_first=1)
    failed = create(hour=0)
    newest = [create(hour=hour) for hour in (1, 2, 3)][-1]  # newest first: [3, 2] [1, failed]
    hook = AdobeFlowServiceHook()

    assert hook.get_latest_run(FILE_FLOW_ID, status="success")["id"] == newest
    assert len(run_listings(emu)) == 1
    assert hook.get_latest_run(FILE_FLOW_ID, status="failed")["id"] == failed
    assert len(run_listings(emu)) == 1 + 2, "the failed run is on the second page"
    assert hook.get_latest_run(FILE_FLOW_ID, status="inProgress") is None
    assert len(run_listings(emu)) == 1 + 2 + 2, "no match: every page read"


@pytest.mark.parametrize(
    ("flow_id", "status", "param"),
    [(FILE_FLOW_ID, "done", "status"), (FILE_FLOW_ID, "unknown", "status"), ("flow-1", None, "flow_id")],
)
def test_get_latest_run_refuses_bad_arguments_before_any_call(emu, flow_id, status, param):
    with pytest.raises(InvalidParameterError) as info:
        AdobeFlowServiceHook().get_latest_run(flow_id, status=status)

    assert info.value.param == param
    assert emu.requests == []
    if param == "status":
        assert "'scheduled', 'inProgress', 'success', 'failed'" in str(info.value)
