"""POST /runs: Adobe's tutorial request, answer shapes and every documented validation error."""

from __future__ import annotations

import pytest
from adobe_tutorial import TUTORIAL_FILE_BODY, TUTORIAL_TABLE_BODY

from airflow_flowrun.emulator import (
    CLIENT_ID,
    DISABLED_FLOW_ID,
    FAILING_FLOW_ID,
    FILE_FLOW_ID,
    RECURRING_FLOW_ID,
    TABLE_FLOW_ID,
    TUTORIAL_FLOW_ID,
)

WINDOW = (1_700_000_000, 1_700_036_000)


@pytest.mark.parametrize("body", [TUTORIAL_TABLE_BODY, TUTORIAL_FILE_BODY], ids=["table", "file"])
def test_tutorial_request_verbatim_creates_run_with_items_answer(client, body):
    answer = client.request(
        "POST", "/runs", data=body, headers={**client.headers(), "Content-Type": "application/json"}
    )

    assert answer.status_code == 201, answer.text
    (reference,) = answer.json()["items"]
    assert set(reference) == {"id", "etag"}
    assert reference["etag"].startswith('"')
    assert reference["etag"].endswith('"')
    run = client.get_run(reference["id"])
    assert run["flowId"] == TUTORIAL_FLOW_ID
    assert run["params"]["windowEndTime"] == 16515859567


def test_tutorial_body_against_seeded_table_flow_stores_dob_delta_column(client):
    body = TUTORIAL_TABLE_BODY.replace(TUTORIAL_FLOW_ID, TABLE_FLOW_ID)
    answer = client.request(
        "POST", "/runs", data=body, headers={**client.headers(), "Content-Type": "application/json"}
    )

    assert answer.status_code == 201, answer.text
    flow = client.request("GET", f"/flows/{TABLE_FLOW_ID}").json()["items"][0]
    assert flow["transformations"][0] == {"name": "Copy", "params": {"deltaColumn": {"name": "DOB"}}}


def test_integer_and_string_times_are_echoed_as_integers(client):
    run_id = client.run_id(
        TABLE_FLOW_ID, ("1700000000", 1_700_036_000), startTime=1_600_000_000, deltaColumn={"name": "updated_at"}
    )

    assert client.get_run(run_id)["params"] == {
        "startTime": 1_600_000_000,
        "windowStartTime": 1_700_000_000,
        "windowEndTime": 1_700_036_000,
        "deltaColumn": {"name": "updated_at"},
    }


@pytest.mark.parametrize("shape", ["items", "bare", "run"])
def test_create_run_response_shape_is_configurable(emu, client, shape):
    emu.update_settings(create_run_response_shape=shape)

    body = client.create_run(FILE_FLOW_ID).json()

    if shape == "items":
        assert set(body) == {"items"}
        assert set(body["items"][0]) == {"id", "etag"}
        run_id = body["items"][0]["id"]
    elif shape == "bare":
        assert set(body) == {"id", "etag"}
        run_id = body["id"]
    else:
        assert body["flowId"] == FILE_FLOW_ID
        assert "metrics" in body
        run_id = body["id"]
    assert emu.runs(FILE_FLOW_ID)[0]["id"] == run_id


def test_first_table_run_stores_delta_column_and_later_runs_may_omit_it(client):
    client.run_id(TABLE_FLOW_ID, deltaColumn={"name": "updated_at"})

    later = client.create_run(TABLE_FLOW_ID, (1_700_036_000, 1_700_072_000))
    same = client.create_run(TABLE_FLOW_ID, (1_700_072_000, 1_700_080_000), deltaColumn={"name": "updated_at"})

    assert later.status_code == 201
    assert same.status_code == 201
    flow = client.request("GET", f"/flows/{TABLE_FLOW_ID}").json()["items"][0]
    assert flow["transformations"][0]["params"]["deltaColumn"] == {"name": "updated_at"}


def test_start_time_in_the_past_starts_the_run_at_once(client):
    run = client.get_run(client.run_id(FILE_FLOW_ID, startTime=1_600_000_000))

    assert run["params"]["startTime"] == 1_600_000_000
    assert client.status(run) == "inProgress"


@pytest.mark.parametrize(
    ("flow_id", "window", "params", "code", "words"),
    [
        (FILE_FLOW_ID, (200, 100), {}, "FLOW-1381-400", "windowEndTime"),
        (TABLE_FLOW_ID, WINDOW, {}, "FLOW-1383-400", "deltaColumn"),
        (FAILING_FLOW_ID, WINDOW, {"deltaColumn": {"name": "id"}}, "FLOW-1382-400", "updated_at"),
        (RECURRING_FLOW_ID, WINDOW, {"deltaColumn": {"name": "id"}}, "FLOW-1386-400", "day"),
        (DISABLED_FLOW_ID, WINDOW, {"deltaColumn": {"name": "id"}}, "FLOW-1384-400", "disabled"),
        (FILE_FLOW_ID, WINDOW, {"deltaColumn": {"name": "id"}}, "FLOW-1384-400", "file-based"),
        (TABLE_FLOW_ID, WINDOW, {"deltaColumn": {"name": "birthday"}}, "FLOW-1384-400", "birthday"),
        (TABLE_FLOW_ID, WINDOW, {"deltaColumn": "updated_at"}, "FLOW-1384-400", "deltaColumn"),
        (FILE_FLOW_ID, ("yesterday", 100), {}, "FLOW-1340-400", "windowStartTime"),
        (FILE_FLOW_ID, ([1], 100), {}, "FLOW-1384-400", "windowStartTime"),
        (FILE_FLOW_ID, (-5, 100), {}, "FLOW-1384-400", "negative"),
        (FILE_FLOW_ID, WINDOW, {"startTime": "soon"}, "FLOW-1340-400", "startTime"),
        ("00000000-0000-0000-0000-000000000000", WINDOW, {}, "FLOW-1430-400", "not found"),
    ],
    ids=[
        "reversed-window",
        "first-table-run-without-delta",
        "delta-differs-from-stored",
        "recurring-flow",
        "disabled-flow",
        "delta-on-file-flow",
        "delta-not-a-column",
        "delta-not-an-object",
        "unparseable-time",
        "time-of-wrong-type",
        "negative-time",
        "unparseable-start-time",
        "unknown-flow",
    ],
)
def test_invalid_run_requests_answer_documented_codes(client, flow_id, window, params, code, words):
    answer = client.create_run(flow_id, window, **params)

    assert answer.status_code == int(code[-3:])
    assert client.error_code(answer) == code
    assert words in answer.json()["report"]["detailed-message"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"params": {"startTime": 0, "windowStartTime": 1, "windowEndTime": 2}}, "flowId"),
        ({"flowId": FILE_FLOW_ID}, "params"),
        ({"flowId": FILE_FLOW_ID, "params": {"startTime": 0, "windowStartTime": 1}}, "windowEndTime"),
        ({"flowId": FILE_FLOW_ID, "params": {"windowStartTime": 1, "windowEndTime": 2}}, "startTime"),
        ([FILE_FLOW_ID], "JSON object"),
    ],
    ids=["no-flow-id", "no-params", "no-window-end", "no-start-time", "not-an-object"],
)
def test_missing_run_params_answer_1384(client, body, words):
    answer = client.request("POST", "/runs", json=body)

    assert client.error_code(answer) == "FLOW-1384-400"
    assert words in answer.json()["errorMessage"]


def test_body_that_is_not_json_answers_1384(client):
    answer = client.request(
        "POST", "/runs", data="flowId=x", headers={**client.headers(), "Content-Type": "application/json"}
    )

    assert client.error_code(answer) == "FLOW-1384-400"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_post_runs_without_a_json_content_type_is_refused(emu, client, content_type):
    headers = client.headers(**{"Content-Type": content_type})

    answer = client.request("POST", "/runs", data=TUTORIAL_FILE_BODY, headers=headers)

    assert answer.status_code == 400
    assert answer.json()["detail"] == "A valid content-type must be specified"
    assert answer.json()["title"] == "BadRequestError"
    assert emu.runs() == []


def test_json_content_type_with_a_charset_is_accepted(client):
    headers = client.headers(**{"Content-Type": "application/json; charset=utf-8"})

    assert client.request("POST", "/runs", data=TUTORIAL_FILE_BODY, headers=headers).status_code == 201


def test_empty_window_is_accepted_as_adobe_documents_1381_for_end_before_start_only(client):
    run = client.get_run(client.run_id(FILE_FLOW_ID, (1_700_000_000, 1_700_000_000)))

    assert (run["params"]["windowStartTime"], run["params"]["windowEndTime"]) == (1_700_000_000, 1_700_000_000)


def test_runs_record_the_client_whose_token_made_them(emu, client):
    default_client = client.get_run(client.run_id(FILE_FLOW_ID))
    emu.update_settings(client_id="team-client")
    team = type(client)(emu.url)
    team_token = team.fetch_token(client_id="team-client").json()["access_token"]
    headers = client.headers(Authorization=f"Bearer {team_token}", **{"x-api-key": "team-client"})
    body = {"flowId": FILE_FLOW_ID, "params": {"startTime": 0, "windowStartTime": 0, "windowEndTime": 900}}

    created = client.request("POST", "/runs", json=body, headers=headers)

    team_run = client.request("GET", f"/runs/{created.json()['items'][0]['id']}", headers=headers).json()["items"][0]
    assert (default_client["createdClient"], default_client["createdBy"]) == (CLIENT_ID, f"{CLIENT_ID}@AdobeID")
    assert (team_run["createdClient"], team_run["createdBy"]) == ("team-client", "team-client@AdobeID")
    team.session.close()


def test_rejected_first_run_does_not_store_delta_column(client):
    client.create_run(TABLE_FLOW_ID, (200, 100), deltaColumn={"name": "email"})

    assert client.create_run(TABLE_FLOW_ID, deltaColumn={"name": "updated_at"}).status_code == 201
