"""What tests can inspect: the request log (secrets redacted), counters, runs, flows, and the
admin API that exposes the same to other processes."""

from __future__ import annotations

import requests

from airflow_flowrun.emulator import (
    CLIENT_SECRET,
    FAILING_FLOW_ID,
    FILE_FLOW_ID,
    ORG_ID,
    SEEDED_FLOW_IDS,
    TABLE_FLOW_ID,
    FlowServiceEmulator,
)

WINDOW = (1_700_000_000, 1_700_036_000)


def test_request_log_never_holds_the_client_secret_or_tokens(emu, client):
    token = client.token
    client.run_id(FILE_FLOW_ID)
    client.session.post(f"{emu.url}/ims/token/v3?client_secret={CLIENT_SECRET}", data={"grant_type": "x"})

    recorded = emu.requests

    assert CLIENT_SECRET not in repr(recorded)
    assert token not in repr(recorded)
    token_request, create_request = recorded[0], recorded[1]
    assert token_request.body["client_secret"] == "***"
    assert token_request.body["grant_type"] == "client_credentials"
    assert create_request.headers["authorization"] == "Bearer ***"
    assert create_request.headers["x-gw-ims-org-id"] == ORG_ID
    assert create_request.body["flowId"] == FILE_FLOW_ID
    assert (create_request.method, create_request.path, create_request.status) == (
        "POST",
        "/data/foundation/flowservice/runs",
        201,
    )
    assert recorded[2].params == [("client_secret", "***")]


def test_request_log_records_query_and_rejections(emu, client):
    client.request("GET", f"/runs?property=flowId=={FILE_FLOW_ID}&limit=5")
    client.request("GET", "/runs", headers=client.headers(Authorization=None))

    listing, rejected = emu.requests[-2:]

    assert listing.params == [("property", f"flowId=={FILE_FLOW_ID}"), ("limit", "5")]
    assert listing.status == 200
    assert rejected.status == 403
    assert listing.timestamp <= rejected.timestamp


def test_request_log_is_bounded_but_counters_are_exact():
    with FlowServiceEmulator(request_log_size=5) as emulator, requests.Session() as session:
        for _ in range(12):
            session.get(f"{emulator.url}/data/foundation/flowservice/runs")

        assert len(emulator.requests) == 5
        stats = emulator.stats()
        assert stats["total_requests"] == 12
        assert stats["requests_by_route"] == {"GET /runs": 12}


def test_stats_count_routes_tokens_and_runs(emu, client):
    run_id = client.run_id(FILE_FLOW_ID)
    client.get_run(run_id)
    client.request("GET", f"/flows/{FILE_FLOW_ID}")

    assert emu.stats() == {
        "token_requests": 1,
        "total_requests": 4,
        "requests_by_route": {
            "POST /ims/token/v3": 1,
            "POST /runs": 1,
            "GET /runs/{runId}": 1,
            "GET /flows/{flowId}": 1,
        },
        "faults_injected": {
            "status": 0,
            "drop": 0,
            "latency": 0,
            "commit_then_502": 0,
            "commit_then_delay": 0,
            "reject_tokens": 0,
            "revoke_tokens": 0,
        },
        "runs": 1,
    }


def test_runs_are_listed_per_flow_oldest_first(emu, client):
    first = client.run_id(FILE_FLOW_ID, (0, 900))
    other = client.run_id(FAILING_FLOW_ID)
    second = client.run_id(FILE_FLOW_ID, (900, 1800))

    assert [run["id"] for run in emu.runs(FILE_FLOW_ID)] == [first, second]
    assert [run["id"] for run in emu.runs()] == [first, other, second]


def test_flows_show_seeded_and_added_flows_until_reset(emu):
    added = emu.add_flow(kind="file", name="Extra bucket")

    assert set(emu.flows) == {*SEEDED_FLOW_IDS.values(), added}
    assert emu.flows[added]["name"] == "Extra bucket"
    emu.reset()
    assert added not in emu.flows


def test_added_table_flow_takes_its_own_columns(emu, client):
    flow_id = emu.add_flow(kind="table", columns=("order_id", "modified"), outcome="partial")

    rejected = client.create_run(flow_id, deltaColumn={"name": "updated_at"})
    accepted = client.create_run(flow_id, deltaColumn={"name": "modified"})

    assert client.error_code(rejected) == "FLOW-1384-400"
    assert accepted.status_code == 201


def test_connection_points_airflow_at_the_emulator(emu):
    connection = emu.connection_dict

    assert connection["conn_type"] == "aep"
    assert connection["host"] == emu.url
    assert connection["extra"]["ims_token_url"] == f"{emu.url}/ims/token/v3"
    assert connection["extra"]["sandbox_name"] == "prod"


def test_admin_api_configures_and_inspects_from_another_process(emu, client):
    admin = f"{emu.url}/_emulator"
    with requests.Session() as session:
        assert session.put(f"{admin}/settings", json={"run_duration": 0.1}).json()["run_duration"] == 0.1
        patched = session.patch(f"{admin}/flows/{FILE_FLOW_ID}", json={"outcome": "partial", "fail_first": 0})
        assert patched.json()["outcome"] == "partial"
        rule = session.post(f"{admin}/faults", json={"kind": "status", "status": 503, "nth": [1]})
        assert rule.status_code == 201
        assert rule.json()["kind"] == "status"

        assert client.create_run(FILE_FLOW_ID).status_code == 503
        run_id = client.run_id(FILE_FLOW_ID, (0, 900))
        client.wait_for_status(run_id, {"success"})

        stats = session.get(f"{admin}/stats").json()
        assert stats["faults_injected"]["status"] == 1
        assert stats["requests_by_route"]["POST /runs"] == 2
        assert stats["runs"] == 1
        runs = session.get(f"{admin}/runs", params={"flow_id": FILE_FLOW_ID}).json()["items"]
        assert runs[0]["metrics"]["recordSummary"]["failedRecordCount"] > 0
        assert session.get(f"{admin}/windows/{FILE_FLOW_ID}").json()["windows"] == [[0, 900]]
        counts = session.get(
            f"{admin}/expected-counts", params={"flow_id": FILE_FLOW_ID, "window_start": 0, "window_end": 900}
        ).json()
        assert counts == emu.expected_counts(FILE_FLOW_ID, 0, 900)
        assert session.get(f"{admin}/requests", params={"limit": 1}).json()["items"][0]["method"] == "GET"
        assert session.delete(f"{admin}/faults").json() == {"items": []}
        assert session.get(f"{admin}/faults").json() == {"items": []}

        assert session.post(f"{admin}/reset").json() == {"status": "reset"}
        assert session.get(f"{admin}/stats").json()["total_requests"] == 0
        assert session.get(f"{admin}/settings").json()["run_duration"] == 0.4


def test_admin_requests_are_not_counted(emu):
    requests.get(f"{emu.url}/_emulator/stats", timeout=5)

    assert emu.stats()["total_requests"] == 0
    assert emu.requests == []


def test_admin_api_rejects_bad_input(emu):
    admin = f"{emu.url}/_emulator"
    with requests.Session() as session:
        assert session.post(f"{admin}/faults", json={"kind": "meteor"}).status_code == 400
        assert session.patch(f"{admin}/flows/{TABLE_FLOW_ID}", json={"outcome": "maybe"}).status_code == 400
        assert session.patch(f"{admin}/flows/{TABLE_FLOW_ID}", json={"colour": "red"}).status_code == 400
        assert session.patch(f"{admin}/flows/no-such-flow", json={"duration": 1}).status_code == 404
        assert session.put(f"{admin}/settings", json={"seed": 3}).status_code == 400
        assert session.put(f"{admin}/settings", json={"visibility_delay": -1}).status_code == 400
        assert session.get(f"{admin}/windows/no-such-flow").status_code == 404
        assert session.get(f"{admin}/expected-counts", params={"flow_id": FILE_FLOW_ID}).status_code == 400
