"""Runs Flow Service starts itself: added "from elsewhere" with a chosen createdAt, and started by a
recurring flow's schedule on a sped-up clock."""

from __future__ import annotations

import time

import pytest
import requests

from airflow_flowrun.emulator import DISABLED_FLOW_ID, FILE_FLOW_ID, RECURRING_FLOW_ID, TABLE_FLOW_ID
from airflow_flowrun.emulator.seeds import SCHEDULER_CLIENT_ID, UI_CLIENT_ID


def _windows(runs):
    return [(run["params"]["windowStartTime"], run["params"]["windowEndTime"]) for run in runs]


# -- runs from elsewhere ---------------------------------------------------------------------------


def test_run_from_the_ui_in_the_past_has_finished_and_names_the_ui_client(emu, client):
    created_at = time.time() - 3600

    added = emu.add_run(RECURRING_FLOW_ID, window_start=0, window_end=3600, created_at=created_at)

    run = client.get_run(added["id"])
    assert run == added
    assert client.status(run) == "success"
    assert run["createdAt"] == int(created_at * 1000)
    assert run["metrics"]["durationSummary"]["startedAtUTC"] == int(created_at * 1000)
    assert (run["createdClient"], run["createdBy"]) == (UI_CLIENT_ID, f"{UI_CLIENT_ID}@AdobeID")
    assert run["params"] == {"startTime": int(created_at), "windowStartTime": 0, "windowEndTime": 3600}
    assert run["metrics"]["recordSummary"]["inputRecordCount"] == 100


def test_run_added_now_lives_the_normal_lifecycle(emu, client):
    added = emu.add_run(FILE_FLOW_ID, window_start=0, window_end=900, duration=0.3, outcome="failed")

    assert client.status(added) == "inProgress"
    done = client.wait_for_status(added["id"], {"success", "failed"})
    assert client.status(done) == "failed"
    assert done["metrics"]["statusSummary"]["errors"][0]["code"] == "CONNECTOR-1001-500"


def test_run_created_in_the_future_is_not_visible_until_then(emu, client):
    added = emu.add_run(FILE_FLOW_ID, window_start=0, window_end=900, created_at=time.time() + 60)

    assert client.error_code(client.request("GET", f"/runs/{added['id']}")) == "FLOW-1101-404"
    assert emu.runs(FILE_FLOW_ID)[0]["id"] == added["id"]


def test_added_runs_skip_post_runs_checks(emu, client):
    for flow_id in (RECURRING_FLOW_ID, DISABLED_FLOW_ID, TABLE_FLOW_ID):
        emu.add_run(flow_id, window_start=0, window_end=36, created_at=time.time() - 60)

    assert [len(emu.runs(flow_id)) for flow_id in (RECURRING_FLOW_ID, DISABLED_FLOW_ID, TABLE_FLOW_ID)] == [1, 1, 1]
    flow = client.request("GET", f"/flows/{TABLE_FLOW_ID}").json()["items"][0]
    assert flow["transformations"][0]["params"] == {}, "no delta column was stored"


def test_runs_list_by_created_at_whatever_order_they_were_added(emu, client):
    now = time.time()
    newest = emu.add_run(FILE_FLOW_ID, window_start=1800, window_end=2700, created_at=now - 10)
    oldest = emu.add_run(FILE_FLOW_ID, window_start=0, window_end=900, created_at=now - 300)
    middle = client.run_id(FILE_FLOW_ID, (900, 1800), startTime=int(now))
    emu.add_run(FILE_FLOW_ID, window_start=0, window_end=900, created_at=now - 200)

    listed = client.request("GET", "/runs", params={"property": f"flowId=={FILE_FLOW_ID}"}).json()["items"]

    assert listed[0]["id"] == middle
    assert listed[-1]["id"] == oldest["id"]
    assert emu.runs(FILE_FLOW_ID)[0]["id"] == oldest["id"]
    flow = client.request("GET", f"/flows/{FILE_FLOW_ID}").json()["items"][0]
    assert flow["lastRunDetails"]["id"] == middle
    assert newest["id"] in [run["id"] for run in listed]


def test_counts_override_the_deterministic_metrics_failed_records_included(emu, client):
    counts = {"inputRecordCount": 10, "outputRecordCount": 7, "failedRecordCount": 3}

    added = emu.add_run(FILE_FLOW_ID, window_start=0, window_end=900, created_at=time.time() - 60, counts=counts)

    summary = client.get_run(added["id"])["metrics"]["recordSummary"]
    assert summary == counts


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"window_start": 10, "window_end": 10}, "window_end must be after window_start"),
        ({"window_start": 20, "window_end": 10}, "window_end must be after window_start"),
        ({"window_start": "0", "window_end": 10}, "window_start must be an integer"),
        ({"window_start": 0, "window_end": 9.5}, "window_end must be an integer"),
        ({"window_start": 0, "window_end": 10, "outcome": "maybe"}, "outcome must be one of"),
        ({"window_start": 0, "window_end": 10, "duration": -1}, "duration must be >= 0"),
        ({"window_start": 0, "window_end": 10, "created_at": "yesterday"}, "created_at must be a number"),
        ({"window_start": 0, "window_end": 10, "sandbox": "staging"}, "sandbox must be one of"),
        ({"window_start": 0, "window_end": 10, "created_by": ""}, "created_by must be a client id"),
        ({"window_start": 0, "window_end": 10, "counts": {"rows": 1}}, "counts has unknown metrics"),
        ({"window_start": 0, "window_end": 10, "counts": {"inputBytes": -1}}, "counts\\['inputBytes'\\]"),
    ],
)
def test_add_run_rejects_bad_input_naming_the_parameter(emu, fields, words):
    with pytest.raises(ValueError, match=words):
        emu.add_run(FILE_FLOW_ID, **fields)
    assert emu.runs(FILE_FLOW_ID) == []


def test_add_run_to_unknown_flow_raises_key_error(emu):
    with pytest.raises(KeyError, match="no-such-flow"):
        emu.add_run("no-such-flow", window_start=0, window_end=10)


def test_admin_api_adds_runs_from_another_process(emu, client):
    url = f"{emu.url}/_emulator/flows/{FILE_FLOW_ID}/runs"
    body = {"window_start": 0, "window_end": 900, "created_at": time.time() - 60, "created_by": "another-tool"}

    with requests.Session() as session:
        added = session.post(url, json={**body, "sandbox": "dev", "outcome": "partial"})
        bad_window = session.post(url, json={**body, "window_end": 0})
        missing = session.post(url, json={"window_start": 0})
        unknown_key = session.post(url, json={**body, "colour": "red"})
        unknown_flow = session.post(f"{emu.url}/_emulator/flows/no-such-flow/runs", json=body)

    assert added.status_code == 201
    run = client.get_run(added.json()["id"])
    assert (run["createdClient"], run["sandboxName"], client.status(run)) == ("another-tool", "dev", "success")
    assert run["metrics"]["recordSummary"]["failedRecordCount"] > 0
    assert (bad_window.status_code, missing.status_code, unknown_key.status_code) == (400, 400, 400)
    assert "window_end" in bad_window.json()["detail"]
    assert "window_end is required" in missing.json()["detail"]
    assert unknown_flow.status_code == 404


# -- recurring flows that start their own runs -----------------------------------------------------


def test_recurring_flow_has_no_runs_and_refuses_post_runs_until_scheduled(emu, client):
    refused = client.create_run(RECURRING_FLOW_ID, deltaColumn={"name": "id"})

    assert client.error_code(refused) == "FLOW-1386-400"
    assert emu.runs(RECURRING_FLOW_ID) == []


def test_schedule_makes_one_run_per_elapsed_window_exactly_once(emu, client):
    start = int(time.time()) - 570

    schedule = emu.schedule_flow(RECURRING_FLOW_ID, every=60, start=start)

    runs = emu.runs(RECURRING_FLOW_ID)
    assert schedule == {
        "flow_id": RECURRING_FLOW_ID, "every": 60, "start": start, "delay": 0.0,
        "runs_made": 9, "next_run_at": start + 600,
    }  # fmt: skip
    assert _windows(runs) == [(start + 60 * k, start + 60 * (k + 1)) for k in range(9)]
    assert [run["createdAt"] for run in runs] == [(start + 60 * k) * 1000 for k in range(1, 10)]
    assert {client.status(run) for run in runs} == {"success"}
    assert {run["createdClient"] for run in runs} == {SCHEDULER_CLIENT_ID}
    assert [run["id"] for run in emu.runs(RECURRING_FLOW_ID)] == [run["id"] for run in runs]
    listed = client.request("GET", "/runs", params={"property": f"flowId=={RECURRING_FLOW_ID}"}).json()["items"]
    assert sorted(run["id"] for run in listed) == sorted(run["id"] for run in runs)
    assert client.error_code(client.create_run(RECURRING_FLOW_ID)) == "FLOW-1386-400"


def test_scheduled_runs_appear_as_the_clock_passes_and_each_once(emu, client):
    emu.schedule_flow(RECURRING_FLOW_ID, every=1)

    deadline = time.monotonic() + 10
    while len(emu.runs(RECURRING_FLOW_ID)) < 2:
        assert time.monotonic() < deadline, "no second scheduled run within 10 s"
        time.sleep(0.1)

    runs = emu.runs(RECURRING_FLOW_ID)
    assert len({run["id"] for run in runs}) == len(runs)
    assert len(set(_windows(runs))) == len(runs)
    first, second = _windows(runs)[:2]
    assert first[1] == second[0]
    assert client.get_run(runs[0]["id"])["id"] == runs[0]["id"]


def test_schedule_delay_and_flow_behaviour_shape_its_runs(emu, client):
    emu.configure_flow(RECURRING_FLOW_ID, fail_first=1, counts={"failedRecordCount": 4})
    start = int(time.time()) - 250

    emu.schedule_flow(RECURRING_FLOW_ID, every=100, start=start, delay=30)

    runs = emu.runs(RECURRING_FLOW_ID)
    assert _windows(runs) == [(start, start + 100), (start + 100, start + 200)]
    assert [run["createdAt"] for run in runs] == [(start + 130) * 1000, (start + 230) * 1000]
    assert [client.status(run) for run in runs] == ["failed", "success"]
    assert {run["metrics"]["recordSummary"]["failedRecordCount"] for run in runs} == {4}


def test_flow_shows_its_schedule_in_schedule_params(emu, client):
    flow_id = emu.add_flow(kind="file", frequency="minute", interval=15)
    start = int(time.time()) - 5

    emu.schedule_flow(flow_id, every=10, start=start)

    flow = client.request("GET", f"/flows/{flow_id}").json()["items"][0]
    assert flow["scheduleParams"] == {"startTime": str(start), "frequency": "minute", "interval": "15"}
    assert emu.flows[flow_id]["scheduleParams"]["startTime"] == str(start)


def test_unschedule_stops_new_runs_and_reset_forgets_schedules(emu):
    emu.schedule_flow(RECURRING_FLOW_ID, every=60, start=int(time.time()) - 130)
    emu.unschedule_flow(RECURRING_FLOW_ID)
    emu.unschedule_flow(RECURRING_FLOW_ID)

    assert len(emu.runs(RECURRING_FLOW_ID)) == 2
    emu.schedule_flow(RECURRING_FLOW_ID, every=1)
    emu.reset()
    time.sleep(1.1)
    assert emu.runs(RECURRING_FLOW_ID) == []


@pytest.mark.parametrize(
    ("flow_id", "arguments", "words"),
    [
        (FILE_FLOW_ID, {"every": 10}, "frequency 'once'"),
        (RECURRING_FLOW_ID, {"every": 0}, "every must be an integer"),
        (RECURRING_FLOW_ID, {"every": 1.5}, "every must be an integer"),
        (RECURRING_FLOW_ID, {"every": 10, "start": "now"}, "start must be an integer"),
        (RECURRING_FLOW_ID, {"every": 10, "delay": -1}, "delay must be >= 0"),
        (RECURRING_FLOW_ID, {"every": 1, "start": 0}, "at most 10000 runs"),
    ],
)
def test_schedule_rejects_bad_input_naming_the_parameter(emu, flow_id, arguments, words):
    with pytest.raises(ValueError, match=words):
        emu.schedule_flow(flow_id, **arguments)
    assert emu.runs(flow_id) == []


def test_admin_api_schedules_and_unschedules(emu):
    url = f"{emu.url}/_emulator/flows/{RECURRING_FLOW_ID}/schedule"
    start = int(time.time()) - 200

    with requests.Session() as session:
        scheduled = session.put(url, json={"every": 100, "start": start})
        listed = session.get(f"{emu.url}/_emulator/flows").json()["items"]
        stopped = session.delete(url)
        refused = session.put(f"{emu.url}/_emulator/flows/{FILE_FLOW_ID}/schedule", json={"every": 100})
        missing = session.put(url, json={"start": start})
        unknown = session.put(f"{emu.url}/_emulator/flows/no-such-flow/schedule", json={"every": 100})

    assert scheduled.status_code == 200
    assert scheduled.json()["runs_made"] == 2
    (recurring,) = [flow for flow in listed if flow["flow_id"] == RECURRING_FLOW_ID]
    assert recurring["schedule"]["every"] == 100
    assert stopped.json() == {"flow_id": RECURRING_FLOW_ID, "schedule": None}
    assert (refused.status_code, missing.status_code, unknown.status_code) == (400, 400, 404)
    assert len(emu.runs(RECURRING_FLOW_ID)) == 2
