"""Fault injection: error statuses, Retry-After, dropped connections, latency, lost and late answers,
visibility delay, and the nth / every / probability / max_count selectors."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest
import requests

from airflow_flowrun.emulator import FILE_FLOW_ID, FlowServiceEmulator

WINDOW = (1_700_000_000, 1_700_036_000)


def _statuses(client, count: int, path: str = "/flows") -> list[int]:
    return [client.request("GET", path).status_code for _ in range(count)]


@pytest.mark.parametrize(("status", "code"), [(500, "FLOW-1102-500"), (503, "FLOW-1103-503"), (504, "FLOW-1104-504")])
def test_status_fault_answers_flow_service_server_errors(emu, client, status, code):
    emu.inject("status", status=status, nth=[1])

    answer = client.request("GET", "/flows")

    assert answer.status_code == status
    assert client.error_code(answer) == code
    assert client.request("GET", "/flows").status_code == 200
    assert emu.faults_injected["status"] == 1


def test_502_fault_answers_gateway_style_body(emu, client):
    emu.inject("status", status=502, nth=[1])

    answer = client.request("GET", "/runs")

    assert answer.status_code == 502
    assert answer.json() == {"error_code": "502000", "message": "Bad Gateway"}


def test_429_fault_sends_retry_after_header(emu, client):
    emu.inject("status", status=429, retry_after=2, max_count=1)

    answer = client.request("GET", "/runs")

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "2"
    assert answer.json()["error_code"] == "429001"
    assert client.request("GET", "/runs").status_code == 200


def test_drop_fault_is_a_connection_error_for_requests(emu, client):
    emu.inject("drop", method="GET", path="/flows$", nth=[1])

    with pytest.raises(requests.exceptions.ConnectionError):
        client.request("GET", "/flows")

    assert client.request("GET", "/flows").status_code == 200
    assert emu.faults_injected["drop"] == 1
    dropped = [entry for entry in emu.requests if entry.fault == "drop"]
    assert [(entry.path, entry.status) for entry in dropped] == [("/data/foundation/flowservice/flows", None)]


def test_drop_fault_is_a_connection_error_for_aiohttp(emu, client):
    """aiohttp retries an idempotent request once on a dropped connection, so drop POST /runs."""
    emu.inject("drop", method="POST", nth=[1])
    headers = client.headers()
    body = {
        "flowId": FILE_FLOW_ID,
        "params": {"startTime": 0, "windowStartTime": WINDOW[0], "windowEndTime": WINDOW[1]},
    }

    async def post_twice() -> tuple[str, int]:
        async with aiohttp.ClientSession() as session:
            url = f"{emu.url}/data/foundation/flowservice/runs"
            try:
                await session.post(url, headers=headers, json=body)
                first = "answered"
            except aiohttp.ClientConnectionError as error:
                first = type(error).__name__
            async with session.post(url, headers=headers, json=body) as answer:
                return first, answer.status

    first, second = asyncio.run(post_twice())

    assert first in {"ServerDisconnectedError", "ClientOSError"}
    assert second == 201
    assert len(emu.runs(FILE_FLOW_ID)) == 1


def test_latency_fault_delays_then_answers_normally(emu, client):
    emu.inject("latency", delay=0.3, nth=[1])

    started = time.monotonic()
    slow = client.request("GET", "/flows")
    slow_elapsed = time.monotonic() - started
    started = time.monotonic()
    client.request("GET", "/flows")
    fast_elapsed = time.monotonic() - started

    assert slow.status_code == 200
    assert slow_elapsed >= 0.3
    assert fast_elapsed < 0.2


def test_commit_then_502_stores_the_run_but_answers_502(emu, client):
    emu.inject("commit_then_502", nth=[1])

    lost = client.create_run(FILE_FLOW_ID)

    assert lost.status_code == 502
    (run,) = emu.runs(FILE_FLOW_ID)
    listed = client.request("GET", f"/runs?property=flowId=={FILE_FLOW_ID}").json()["items"]
    assert [item["id"] for item in listed] == [run["id"]]
    assert client.create_run(FILE_FLOW_ID).status_code == 201
    assert emu.faults_injected["commit_then_502"] == 1


def test_commit_then_502_answers_502_even_when_the_request_is_rejected(emu, client):
    emu.inject("commit_then_502")

    answer = client.request("POST", "/runs", headers=client.headers(Authorization=None), json={})

    assert answer.status_code == 502
    assert emu.runs() == []


def test_commit_then_delay_stores_the_run_before_its_answer_arrives(emu, client):
    emu.inject("commit_then_delay", delay=0.5, nth=[1])

    started = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(client.create_run, FILE_FLOW_ID)
        while not emu.runs(FILE_FLOW_ID):
            assert time.monotonic() - started < 0.4, "the run should exist before the answer is sent"
            time.sleep(0.01)
        assert not slow.done()
        answer = slow.result()

    assert answer.status_code == 201
    assert time.monotonic() - started >= 0.5
    assert [answer.json()["items"][0]["id"]] == [run["id"] for run in emu.runs(FILE_FLOW_ID)]
    assert emu.faults_injected["commit_then_delay"] == 1


def test_commit_then_delay_survives_a_client_that_gave_up(emu, client):
    emu.inject("commit_then_delay", delay=0.5, nth=[1])
    body = {
        "flowId": FILE_FLOW_ID,
        "params": {"startTime": 0, "windowStartTime": WINDOW[0], "windowEndTime": WINDOW[1]},
    }

    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(
            f"{client.base_url}/data/foundation/flowservice/runs", headers=client.headers(), json=body, timeout=0.1
        )
    time.sleep(0.6)

    assert len(emu.runs(FILE_FLOW_ID)) == 1
    assert client.create_run(FILE_FLOW_ID, (WINDOW[1], WINDOW[1] + 900)).status_code == 201


def test_visibility_delay_hides_new_runs_then_shows_them(emu, client):
    emu.visibility_delay = 0.5
    run_id = client.run_id(FILE_FLOW_ID)

    hidden = client.request("GET", f"/runs/{run_id}")
    listed = client.request("GET", f"/runs?property=flowId=={FILE_FLOW_ID}").json()["items"]

    assert hidden.status_code == 404
    assert client.error_code(hidden) == "FLOW-1101-404"
    assert listed == []
    assert [run["id"] for run in emu.runs()] == [run_id]
    time.sleep(0.55)
    assert client.get_run(run_id)["id"] == run_id


def test_nth_selects_those_matching_requests(emu, client):
    emu.inject("status", status=500, nth=[2, 4])

    assert _statuses(client, 5) == [200, 500, 200, 500, 200]


def test_every_selects_every_kth_request_until_max_count(emu, client):
    emu.inject("status", status=503, every=2, max_count=2)

    assert _statuses(client, 7) == [200, 503, 200, 503, 200, 200, 200]
    assert emu.faults_injected["status"] == 2


def test_probability_is_deterministic_for_a_seed():
    def pattern(seed: int) -> list[int]:
        with FlowServiceEmulator(seed=seed) as emulator:
            emulator.inject("status", status=500, path="/ims/", probability=0.5)
            with requests.Session() as session:
                return [session.post(f"{emulator.url}/ims/token/v3").status_code for _ in range(40)]

    first, again, other = pattern(7), pattern(7), pattern(8)

    assert first == again
    assert first != other
    assert 8 <= first.count(500) <= 32


def test_faults_skip_ims_by_default_and_hit_it_with_a_path(emu, client):
    emu.inject("status", status=503)

    assert client.fetch_token().status_code == 200
    emu.clear_faults()
    emu.inject("status", status=503, path="/ims/token", max_count=1)

    failed = client.fetch_token()
    assert failed.status_code == 503
    assert failed.json()["error"] == "server_error"
    assert client.fetch_token().status_code == 200


def test_method_and_path_filters_limit_a_rule(emu, client):
    emu.inject("status", status=500, method="POST", path="/runs$")

    assert client.request("GET", "/runs").status_code == 200
    assert client.create_run(FILE_FLOW_ID).status_code == 500
    assert emu.runs() == []


def test_clear_faults_removes_rules_but_keeps_counts(emu, client):
    emu.inject("status", status=500)
    client.request("GET", "/flows")

    emu.clear_faults()

    assert client.request("GET", "/flows").status_code == 200
    assert emu.stats()["faults_injected"]["status"] == 1


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ({"kind": "explode"}, "fault kind"),
        ({"kind": "status", "status": 200}, "status"),
        ({"kind": "status", "nth": [0]}, "1-based"),
        ({"kind": "status", "nth": [1], "every": 2}, "at most one"),
        ({"kind": "status", "probability": 1.5}, "probability"),
        ({"kind": "latency", "delay": -1}, "delay"),
        ({"kind": "status", "colour": "red"}, "colour"),
    ],
)
def test_invalid_fault_rules_are_rejected(emu, rule, words):
    kind = rule.pop("kind")

    with pytest.raises(ValueError, match=words):
        emu.inject(kind, **rule)
