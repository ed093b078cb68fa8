"""Run lifecycle on the wall clock, run objects, deterministic counts and re-trigger."""

from __future__ import annotations

import time

import pytest

from airflow_flowrun.emulator import FAILING_FLOW_ID, FILE_FLOW_ID, ROW_ERRORS_FLOW_ID, TABLE_FLOW_ID

WINDOW = (1_700_000_000, 1_700_036_000)


def test_run_goes_scheduled_then_in_progress_then_success(client):
    start_time = int(time.time()) + 2
    run_id = client.run_id(FILE_FLOW_ID, startTime=start_time)

    scheduled = client.get_run(run_id)
    assert client.status(scheduled) == "scheduled"
    assert scheduled["metrics"]["durationSummary"] == {}
    assert scheduled["activities"] == []

    running = client.wait_for_status(run_id, {"inProgress"})
    assert running["metrics"]["durationSummary"]["startedAtUTC"] >= start_time * 1000
    assert "completedAtUTC" not in running["metrics"]["durationSummary"]
    assert running["metrics"]["recordSummary"]["inputRecordCount"] == 0

    done = client.wait_for_status(run_id, {"success", "failed"})
    assert client.status(done) == "success"
    summary = done["metrics"]["durationSummary"]
    assert summary["completedAtUTC"] - summary["startedAtUTC"] == pytest.approx(400, abs=5)
    assert done["updatedAt"] >= summary["completedAtUTC"]
    assert done["etag"] != scheduled["etag"] != running["etag"]


def test_successful_run_reports_exactly_the_window_contents(emu, client):
    run_id = client.run_id(FILE_FLOW_ID)

    run = client.wait_for_status(run_id, {"success", "failed"})

    expected = emu.expected_counts(FILE_FLOW_ID, *WINDOW)
    metrics = run["metrics"]
    assert expected["inputFileCount"] == 40
    assert metrics["recordSummary"] == {
        "inputRecordCount": expected["inputRecordCount"],
        "outputRecordCount": expected["inputRecordCount"],
        "failedRecordCount": 0,
    }
    assert metrics["fileSummary"]["inputFileCount"] == 40
    assert metrics["sizeSummary"] == {"inputBytes": expected["inputBytes"], "outputBytes": expected["outputBytes"]}
    assert metrics["statusSummary"] == {"status": "success", "errors": [], "activityRefs": []}


def test_table_counts_are_one_row_every_36_seconds_and_repeat_identically(emu, client):
    first = client.run_id(TABLE_FLOW_ID, deltaColumn={"name": "updated_at"})
    second = client.run_id(TABLE_FLOW_ID)

    runs = [client.wait_for_status(run_id, {"success"}) for run_id in (first, second)]

    assert [run["metrics"]["recordSummary"]["inputRecordCount"] for run in runs] == [1000, 1000]
    assert runs[0]["metrics"]["sizeSummary"] == runs[1]["metrics"]["sizeSummary"]
    assert emu.expected_counts(TABLE_FLOW_ID, 0, 36)["inputRecordCount"] == 1
    assert emu.expected_counts(TABLE_FLOW_ID, 1, 36)["inputRecordCount"] == 0


def test_completed_run_lists_copy_and_promotion_activities_with_batch_id(client):
    run = client.wait_for_status(client.run_id(FILE_FLOW_ID), {"success"})

    copy, promotion = run["activities"]
    assert (copy["name"], promotion["name"]) == ("Copy Activity", "Promotion Activity")
    assert copy["statusSummary"]["status"] == "success"
    (target,) = promotion["targetInfo"]
    assert target["reference"]["type"] == "Batch"
    assert len(target["reference"]["ids"][0]) == 26
    assert promotion["recordSummary"] == run["metrics"]["recordSummary"]


def test_failed_run_carries_errors_at_run_and_activity_level(client):
    run = client.wait_for_status(client.run_id(FAILING_FLOW_ID), {"success", "failed"})

    assert client.status(run) == "failed"
    errors = run["metrics"]["statusSummary"]["errors"]
    assert errors[0]["code"] == "CONNECTOR-1001-500"
    assert errors[0]["message"]
    (copy,) = run["activities"]
    assert copy["statusSummary"]["status"] == "failed"
    assert copy["statusSummary"]["errors"] == errors
    assert copy["statusSummary"]["extensions"]["errorDetail"]
    assert "completedAtUTC" in run["metrics"]["durationSummary"]
    assert run["metrics"]["recordSummary"]["outputRecordCount"] == 0


def test_partial_run_succeeds_with_failed_records_and_errors(emu, client):
    run = client.wait_for_status(client.run_id(ROW_ERRORS_FLOW_ID), {"success", "failed"})

    assert client.status(run) == "success"
    records = run["metrics"]["recordSummary"]
    expected = emu.expected_counts(ROW_ERRORS_FLOW_ID, *WINDOW)
    assert records["failedRecordCount"] == expected["failedRecordCount"] > 0
    assert records["outputRecordCount"] == records["inputRecordCount"] - records["failedRecordCount"]
    assert run["metrics"]["statusSummary"]["errors"][0]["code"] == "CONNECTOR-2001-500"
    promotion = run["activities"][1]
    assert {error["code"] for error in promotion["statusSummary"]["extensions"]["errors"]} == {
        "INGEST-1212-400",
        "MAPPER-3700-400",
    }


def test_configured_duration_and_outcome_apply_to_new_runs(emu, client):
    emu.configure_flow(FILE_FLOW_ID, duration=0.1, outcome="failed")

    run = client.wait_for_status(client.run_id(FILE_FLOW_ID), {"success", "failed"}, timeout=2)

    assert client.status(run) == "failed"
    summary = run["metrics"]["durationSummary"]
    assert summary["completedAtUTC"] - summary["startedAtUTC"] == pytest.approx(100, abs=5)


def test_fail_first_fails_only_the_first_runs(emu, client):
    emu.configure_flow(FILE_FLOW_ID, duration=0.05, fail_first=2)
    run_ids = [client.run_id(FILE_FLOW_ID, (start, start + 900)) for start in (0, 900, 1800)]

    statuses = [client.status(client.wait_for_status(run_id, {"success", "failed"})) for run_id in run_ids]

    assert statuses == ["failed", "failed", "success"]


def test_retrigger_reruns_failed_run_with_same_id_and_window(emu, client):
    emu.configure_flow(FILE_FLOW_ID, fail_first=1)
    run_id = client.run_id(FILE_FLOW_ID)
    failed = client.wait_for_status(run_id, {"failed"})

    answer = client.request("POST", f"/runs/{run_id}/action", params={"op": "re-trigger"})

    assert answer.status_code == 200
    assert answer.json()["id"] == run_id
    rerun = client.get_run(run_id)
    assert client.status(rerun) == "inProgress"
    assert rerun["params"] == failed["params"]
    assert rerun["etag"] == answer.json()["etag"] != failed["etag"]
    done = client.wait_for_status(run_id, {"success", "failed"})
    assert client.status(done) == "success"
    assert done["metrics"]["statusSummary"]["errors"] == []
    assert len(emu.runs(FILE_FLOW_ID)) == 1


def test_retrigger_accepts_upper_case_op(client):
    run_id = client.run_id(FAILING_FLOW_ID)
    client.wait_for_status(run_id, {"failed"})

    answer = client.request("POST", f"/runs/{run_id}/action?op=RE_TRIGGER")

    assert answer.status_code == 200
    assert client.status(client.get_run(run_id)) == "inProgress"


def test_retrigger_of_a_run_that_has_not_failed_answers_400(client):
    run_id = client.run_id(FILE_FLOW_ID)

    answer = client.request("POST", f"/runs/{run_id}/action?op=re-trigger")

    assert client.error_code(answer) == "FLOW-1384-400"
    assert "inProgress" in answer.json()["errorMessage"]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/runs/{run_id}/action?op=cancel", "FLOW-1384-400"),
        ("/runs/{run_id}/action", "FLOW-1384-400"),
        ("/runs/no-such-run/action?op=re-trigger", "FLOW-1101-404"),
    ],
)
def test_retrigger_rejects_unknown_ops_and_runs(client, path, code):
    run_id = client.run_id(FAILING_FLOW_ID)

    answer = client.request("POST", path.format(run_id=run_id))

    assert client.error_code(answer) == code


def test_unknown_run_answers_1101_404(client):
    answer = client.request("GET", "/runs/6f0c2a5e-0000-4000-8000-000000000000")

    assert answer.status_code == 404
    assert client.error_code(answer) == "FLOW-1101-404"


def test_unknown_flow_answers_1439_404_as_in_adobes_example(client):
    answer = client.request("GET", "/flows/6f0c2a5e-0000-4000-8000-000000000000")

    assert answer.status_code == 404
    assert client.error_code(answer) == "FLOW-1439-404"
    assert "6f0c2a5e-0000-4000-8000-000000000000" in answer.json()["errorMessage"]


def test_flow_shows_last_run_details(client):
    run_id = client.run_id(FILE_FLOW_ID)
    client.wait_for_status(run_id, {"success"})

    flow = client.request("GET", f"/flows/{FILE_FLOW_ID}").json()["items"][0]

    assert flow["lastRunDetails"]["id"] == run_id
    assert flow["lastRunDetails"]["state"] == "success"
    assert flow["scheduleParams"]["frequency"] == "once"
    assert flow["flowSpec"]["id"] == "9753525b-82c7-4dce-8a9b-5ccfce2b9876"
