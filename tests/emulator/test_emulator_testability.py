"""What users' DAG tests reach for: page size, metric counts, sandbox names, token faults and a
request log that shows requests in flight and keeps each answer."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from airflow_flowrun.emulator import CLIENT_SECRET, FILE_FLOW_ID, TABLE_FLOW_ID

WINDOW = (1_700_000_000, 1_700_036_000)


def _listing(client, **params):
    answer = client.request("GET", "/runs", params={"property": f"flowId=={FILE_FLOW_ID}", **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


# -- page size -------------------------------------------------------------------------------------


def test_page_size_limits_the_default_and_largest_limit(emu, client):
    emu.update_settings(page_size=2)
    for hour in range(5):
        client.run_id(FILE_FLOW_ID, (hour * 3600, (hour + 1) * 3600))

    default, asked_more, asked_less = _listing(client), _listing(client, limit=50), _listing(client, limit=1)

    assert [len(page["items"]) for page in (default, asked_more, asked_less)] == [2, 2, 1]
    seen = [run["id"] for run in default["items"]]
    page = default
    while page["_links"]:
        page = client.request("GET", page["_links"]["next"]["href"]).json()
        seen += [run["id"] for run in page["items"]]
    assert sorted(seen) == sorted(run["id"] for run in emu.runs(FILE_FLOW_ID))


def test_page_size_is_a_runtime_setting_of_the_admin_api(emu, client):
    client.run_id(FILE_FLOW_ID, (0, 900))
    client.run_id(FILE_FLOW_ID, (900, 1800))

    with requests.Session() as session:
        assert session.put(f"{emu.url}/_emulator/settings", json={"page_size": 1}).json()["page_size"] == 1
        assert session.put(f"{emu.url}/_emulator/settings", json={"page_size": 0}).status_code == 400

    assert len(_listing(client)["items"]) == 1
    with pytest.raises(ValueError, match="page_size must be an integer >= 1"):
        emu.update_settings(page_size=True)


# -- metric counts ---------------------------------------------------------------------------------


def test_flow_counts_override_the_metrics_of_its_next_runs(emu, client):
    counts = {"inputRecordCount": 500, "outputRecordCount": 480, "failedRecordCount": 20}

    settings = emu.configure_flow(FILE_FLOW_ID, counts=counts)
    run = client.wait_for_status(client.run_id(FILE_FLOW_ID), {"success"})

    assert settings["counts"] == counts
    assert run["metrics"]["recordSummary"] == counts
    promotion = run["activities"][1]
    assert promotion["recordSummary"] == counts
    expected = emu.expected_counts(FILE_FLOW_ID, *WINDOW)
    assert {key: expected[key] for key in counts} == counts
    assert run["metrics"]["fileSummary"]["inputFileCount"] == expected["inputFileCount"] == 40


def test_empty_counts_go_back_to_the_deterministic_metrics(emu, client):
    emu.configure_flow(FILE_FLOW_ID, counts={"inputBytes": 1})
    emu.configure_flow(FILE_FLOW_ID, counts={})

    run = client.wait_for_status(client.run_id(FILE_FLOW_ID), {"success"})

    assert run["metrics"]["sizeSummary"]["inputBytes"] == emu.expected_counts(FILE_FLOW_ID, *WINDOW)["inputBytes"] > 1


def test_counts_through_the_admin_api_and_their_errors(emu):
    url = f"{emu.url}/_emulator/flows/{FILE_FLOW_ID}"
    with requests.Session() as session:
        patched = session.patch(url, json={"counts": {"failedRecordCount": 2}})
        unknown = session.patch(url, json={"counts": {"rows": 2}})
        negative = session.patch(url, json={"counts": {"failedRecordCount": -2}, "outcome": "failed"})

    assert patched.json()["counts"] == {"failedRecordCount": 2}
    assert (unknown.status_code, negative.status_code) == (400, 400)
    assert "rows" in unknown.json()["detail"]
    assert emu.configure_flow(FILE_FLOW_ID)["outcome"] == "success", "a rejected change changes nothing"


# -- sandboxes -------------------------------------------------------------------------------------


def test_extra_sandbox_names_are_accepted_and_others_refused(emu, client):
    settings = emu.update_settings(sandboxes=["prod", "qa"])

    body = {"flowId": FILE_FLOW_ID, "params": {"startTime": 0, "windowStartTime": 0, "windowEndTime": 900}}
    qa = client.request("POST", "/runs", json=body, headers=client.headers(**{"x-sandbox-name": "qa"}))
    dev = client.request("GET", "/runs", headers=client.headers(**{"x-sandbox-name": "dev"}))

    assert settings.sandboxes == ("prod", "qa")
    assert qa.status_code == 201
    assert client.get_run(qa.json()["items"][0]["id"])["sandboxName"] == "qa"
    assert client.error_code(dev) == "FLOW-2100-404"
    assert emu.add_run(FILE_FLOW_ID, window_start=0, window_end=10, sandbox="qa")["sandboxName"] == "qa"


@pytest.mark.parametrize("sandboxes", [[], [""], [" prod"], "prod"])
def test_sandbox_setting_rejects_what_is_not_a_list_of_names(emu, sandboxes):
    with pytest.raises(ValueError, match="sandboxes must be a non-empty list"):
        emu.update_settings(sandboxes=sandboxes)


# -- token faults ----------------------------------------------------------------------------------


def test_reject_tokens_refuses_any_token_while_active(emu, client):
    emu.inject("reject_tokens", max_count=2)

    first = client.request("GET", f"/flows/{FILE_FLOW_ID}")
    fresh_token = client.fetch_token().json()["access_token"]
    second = client.request(
        "GET", f"/flows/{FILE_FLOW_ID}", headers=client.headers(Authorization=f"Bearer {fresh_token}")
    )
    third = client.request("GET", f"/flows/{FILE_FLOW_ID}")

    assert (first.status_code, second.status_code, third.status_code) == (401, 401, 200)
    assert first.json() == {"error_code": "401013", "message": "Oauth token is not valid"}
    assert emu.faults_injected["reject_tokens"] == 2


def test_revoke_tokens_on_the_nth_request_invalidates_every_token_issued_so_far(emu, client):
    other = client.fetch_token().json()["access_token"]
    emu.inject("revoke_tokens", nth=[2])

    answers = [client.request("GET", f"/flows/{FILE_FLOW_ID}").status_code for _ in range(3)]
    with_other = client.request("GET", "/runs", headers=client.headers(Authorization=f"Bearer {other}"))
    client._token = None
    with_new = client.request("GET", "/runs")

    assert answers == [200, 401, 401]
    assert client.error_code(with_other) == "401013"
    assert with_new.status_code == 200
    assert emu.faults_injected["revoke_tokens"] == 1


# -- request log -----------------------------------------------------------------------------------


def test_request_log_shows_a_request_in_flight_then_its_answer(emu, client):
    client.token  # noqa: B018 - fetch the token before the slow request
    emu.inject("latency", delay=1.0, path="/flows/")
    answers: list[requests.Response] = []
    worker = threading.Thread(target=lambda: answers.append(client.request("GET", f"/flows/{TABLE_FLOW_ID}")))
    worker.start()

    deadline = time.monotonic() + 5
    while not any(entry.path.endswith(TABLE_FLOW_ID) for entry in emu.requests):
        assert time.monotonic() < deadline, "the request never showed in the log"
        time.sleep(0.02)
    (in_flight,) = [entry for entry in emu.requests if entry.path.endswith(TABLE_FLOW_ID)]
    worker.join(timeout=10)
    (answered,) = [entry for entry in emu.requests if entry.path.endswith(TABLE_FLOW_ID)]

    assert in_flight.in_flight
    assert (in_flight.status, in_flight.answered_at, in_flight.duration, in_flight.response_headers) == (
        None, None, None, None,
    )  # fmt: skip
    assert in_flight.fault == "latency"
    assert not answered.in_flight
    assert answered.status == answers[0].status_code == 200
    assert answered.duration == pytest.approx(answered.answered_at - answered.timestamp)
    assert answered.duration >= 1.0
    assert answered.response_headers["x-request-id"] == answers[0].headers["x-request-id"]
    assert answered.response_headers["content-type"] == "application/json"
    assert answered.to_dict()["duration"] == answered.duration


def test_request_log_keeps_the_answer_of_a_token_request_without_secrets(emu, client):
    token = client.token

    (entry,) = emu.requests

    logged = repr(entry.to_dict())
    assert entry.status == 200
    assert entry.response_headers["content-type"] == "application/json"
    assert token not in logged
    assert CLIENT_SECRET not in logged


def test_dropped_request_is_answered_without_status_or_headers(emu, client):
    client.token  # noqa: B018 - fetch the token before the dropped request
    emu.inject("drop", nth=[1])

    with pytest.raises(requests.ConnectionError):
        client.request("GET", "/runs")

    deadline = time.monotonic() + 5
    while emu.requests[-1].in_flight:
        assert time.monotonic() < deadline, "the dropped request stayed in flight"
        time.sleep(0.02)
    dropped = emu.requests[-1]
    assert (dropped.status, dropped.response_headers, dropped.fault) == (None, None, "drop")
    assert dropped.answered_at is not None


def test_counts_also_take_the_run_summarys_names(emu, client):
    emu.configure_flow(FILE_FLOW_ID, counts={"output_records": 10, "failed_records": 2})

    run = client.wait_for_status(client.run_id(FILE_FLOW_ID), {"success"})

    assert emu.configure_flow(FILE_FLOW_ID)["counts"] == {"outputRecordCount": 10, "failedRecordCount": 2}
    assert run["metrics"]["recordSummary"]["outputRecordCount"] == 10
    assert run["metrics"]["recordSummary"]["failedRecordCount"] == 2
