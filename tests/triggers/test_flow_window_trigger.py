"""The window trigger in the triggerer's event loop: its verdicts, and one listing per flow per cycle."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from airflow_flowrun._compat import AIRFLOW_V_3_3_PLUS
from airflow_flowrun.emulator import FILE_FLOW_ID, TABLE_FLOW_ID
from airflow_flowrun.triggers.flow_window import AdobeFlowWindowTrigger, start_trigger_args


def flow_listings(emulator, flow_id: str) -> list:
    """The ``GET /runs?property=flowId==...`` listings the emulator answered for ``flow_id``."""
    wanted = ("property", f"flowId=={flow_id}")
    return [r for r in emulator.requests if r.method == "GET" and r.path.endswith("/runs") and wanted in r.params]


def test_trigger_succeeds_with_the_covering_runs_in_window_order(emulator, run_trigger):
    now = int(time.time()) - 7200
    late = emulator.add_run(FILE_FLOW_ID, window_start=now + 600, window_end=now + 1200, created_at=now + 1300)
    early = emulator.add_run(FILE_FLOW_ID, window_start=now, window_end=now + 600, created_at=now + 1400)
    event = run_trigger(AdobeFlowWindowTrigger(FILE_FLOW_ID, now, now + 1200, poll_interval=0.2))
    assert event["status"] == "success"
    assert [summary["run_id"] for summary in event["flow_runs"]] == [early["id"], late["id"]]
    assert event["window"] == [now, now + 1200]


def test_trigger_fails_on_a_failed_run_nobody_covers_and_names_what_it_left(emulator, run_trigger):
    now = int(time.time()) - 7200
    emulator.add_run(FILE_FLOW_ID, window_start=now, window_end=now + 600, created_at=now + 700)
    failed = emulator.add_run(FILE_FLOW_ID, window_start=now + 600, window_end=now + 1200, outcome="failed",
                              created_at=now + 1300)  # fmt: skip
    event = run_trigger(AdobeFlowWindowTrigger(FILE_FLOW_ID, now, now + 1200, poll_interval=0.2))
    assert event["status"] == "failed"
    assert [summary["run_id"] for summary in event["flow_runs"]] == [failed["id"]]
    assert str(now + 600) in event["reason"]
    assert failed["id"] in event["message"]


def test_a_failed_run_is_not_the_verdict_while_a_running_run_may_cover_its_part(emulator, run_trigger):
    now = int(time.time()) - 7200
    emulator.add_run(FILE_FLOW_ID, window_start=now, window_end=now + 600, outcome="failed", created_at=now + 700)
    rerun = emulator.add_run(FILE_FLOW_ID, window_start=now, window_end=now + 600, duration=1.5)
    event = run_trigger(AdobeFlowWindowTrigger(FILE_FLOW_ID, now, now + 600, poll_interval=0.2))
    assert event["status"] == "success"
    assert [summary["run_id"] for summary in event["flow_runs"]] == [rerun["id"]]


def test_trigger_times_out_saying_what_is_missing(emulator, run_trigger):
    now = int(time.time()) - 7200
    emulator.add_run(FILE_FLOW_ID, window_start=now, window_end=now + 600, created_at=now + 700)
    trigger = AdobeFlowWindowTrigger(FILE_FLOW_ID, now, now + 1200, poll_interval=0.2, end_time=time.time() + 1)
    event = run_trigger(trigger)
    assert event["status"] == "timeout"
    assert "timed out" in event["message"]
    assert str(now + 600) in event["message"]  # the gap it still waited for


def test_an_unreadable_window_is_a_fatal_error_event_before_any_call(emulator, run_trigger):
    event = run_trigger(AdobeFlowWindowTrigger(FILE_FLOW_ID, "yesterday", "today", poll_interval=0.2))
    assert event["status"] == "error"
    assert event["fatal"] is True
    assert "window_start='yesterday'" in event["message"]
    assert emulator.requests == []


def test_serialize_round_trips_with_json_safe_kwargs():
    trigger = AdobeFlowWindowTrigger(TABLE_FLOW_ID, 100, 200, poll_interval=5, end_time=1e9)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_flowrun.triggers.flow_window.AdobeFlowWindowTrigger"
    assert kwargs == {
        "flow_id": TABLE_FLOW_ID, "window_start": 100, "window_end": 200, "aep_conn_id": "aep_default",
        "poll_interval": 5.0, "end_time": 1e9, "not_before": None, "data_interval": False,
    }  # fmt: skip
    assert AdobeFlowWindowTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_tasks_waiting_on_one_flow_share_one_listing_per_cycle(emulator, event_of):
    """Thirty tasks wait for thirty different hours of one flow: each poll cycle lists the flow once."""
    now = int(time.time()) - 40 * 3600
    hours = [(now + hour * 3600, now + (hour + 1) * 3600) for hour in range(30)]
    for start, end in hours[:29]:
        emulator.add_run(FILE_FLOW_ID, window_start=start, window_end=end, created_at=end)
    interval = 0.5

    async def main() -> list[dict]:
        triggers = [AdobeFlowWindowTrigger(FILE_FLOW_ID, start, end, poll_interval=interval) for start, end in hours]
        waiting = asyncio.gather(*(event_of(trigger) for trigger in triggers))
        await asyncio.sleep(4 * interval)  # a few cycles while the last hour is missing
        emulator.add_run(FILE_FLOW_ID, window_start=hours[-1][0], window_end=hours[-1][1], created_at=hours[-1][1])
        return await asyncio.wait_for(waiting, 15)

    events = asyncio.run(main())
    assert all(event["status"] == "success" for event in events)
    listings = flow_listings(emulator, FILE_FLOW_ID)
    # one listing per cycle (each a single page here), not one per waiting task: 30 tasks, a handful of cycles
    assert 3 <= len(listings) <= 12, len(listings)


def rendered_as_the_triggerer_does(args, context: dict) -> AdobeFlowWindowTrigger:
    """The trigger of a sensor started from the triggerer, its sensor's templated fields rendered
    in place as Airflow 3.3's triggerer does before ``run()``."""
    trigger = AdobeFlowWindowTrigger(**args.trigger_kwargs)
    trigger.template_fields = ("flow_id", "window_start", "window_end", "aep_conn_id")
    trigger.render_template_fields(context=context)
    return trigger


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="Airflow 3.3 renders trigger kwargs in the triggerer")
def test_a_sensor_started_from_the_trigger_waits_for_its_rendered_data_interval(emulator, run_trigger):
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    start = int(day.timestamp())
    for hour in range(24):
        emulator.add_run(FILE_FLOW_ID, window_start=start + hour * 3600, window_end=start + (hour + 1) * 3600,
                         created_at=start + (hour + 1) * 3600)  # fmt: skip
    args = start_trigger_args(flow_id="{{ params.flow }}", window_start=None, window_end=None,
                              aep_conn_id="aep_default", poll_interval=0.2, timeout=60)  # fmt: skip
    assert args is not None
    context = {
        "data_interval_start": day,
        "data_interval_end": day + timedelta(days=1),
        "params": {"flow": FILE_FLOW_ID},
    }
    event = run_trigger(rendered_as_the_triggerer_does(args, context))
    assert event["status"] == "success"
    assert event["window"] == [start, start + 24 * 3600]
    assert len(event["flow_runs"]) == 24


@pytest.mark.skipif(not AIRFLOW_V_3_3_PLUS, reason="Airflow 3.3 renders trigger kwargs in the triggerer")
def test_a_started_from_trigger_run_without_data_interval_says_why_before_any_call(emulator, run_trigger):
    args = start_trigger_args(flow_id=FILE_FLOW_ID, window_start=None, window_end=None, aep_conn_id="aep_default",
                              poll_interval=0.2, timeout=60)  # fmt: skip
    assert args is not None
    event = run_trigger(rendered_as_the_triggerer_does(args, {"data_interval_start": None, "data_interval_end": None}))
    assert event["status"] == "error"
    assert event["fatal"] is True
    assert "no data interval" in event["message"]
    assert emulator.requests == []


def test_before_airflow_3_3_templated_windows_defer_from_the_worker_with_a_warning(monkeypatch):
    from airflow_flowrun.triggers import flow_window

    monkeypatch.setattr(flow_window, "AIRFLOW_V_3_3_PLUS", False)
    with pytest.warns(UserWarning, match="needs Airflow >= 3.3"):
        assert start_trigger_args(flow_id=FILE_FLOW_ID, window_start=None, window_end=None,
                                  aep_conn_id="aep_default", poll_interval=1, timeout=60) is None  # fmt: skip
    literal = start_trigger_args(flow_id=FILE_FLOW_ID, window_start=100, window_end=200, aep_conn_id="aep_default",
                                 poll_interval=1, timeout=60)  # fmt: skip
    assert literal is not None
    assert literal.trigger_kwargs["window_start"] == 100
    assert literal.timeout == timedelta(seconds=60)
