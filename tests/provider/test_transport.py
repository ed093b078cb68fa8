"""The sync hook's transport over real loopback HTTP: one retry rule, HttpHook as its users expect,
no second run after a lost POST answer, credentials kept on the gateway's origin, a fast Test button.

Odd answers the emulator cannot give (a body cut short, HTML on a 200, next links elsewhere) come
from a small scripted server of our own (``tests/scripted_server.py``).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

import pytest
import requests
import tenacity
from airflow.sdk.exceptions import AirflowException
from scripted_server import CUT, DROP, SECRET, Answer, ScriptedServer, closed_port_url, json_answer, text_answer

from airflow_flowrun import api
from airflow_flowrun.emulator import FILE_FLOW_ID, TABLE_FLOW_ID
from airflow_flowrun.exceptions import FlowServiceError, FlowServiceFatalError
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.retry import RetryPolicy

FLOW_ID = "5c0a5bd1-7c3e-4f0e-9d6b-0f1e2d3c4b5a"
FLOWS = "/data/foundation/flowservice/flows"
RUNS = "/data/foundation/flowservice/runs"
WINDOW = {"window_start": 1795824000, "window_end": 1795827600}


@pytest.fixture
def scripted(monkeypatch, token_cache):
    """A scripted gateway + IMS, set as connection ``aep_scripted``."""
    with ScriptedServer() as server:
        monkeypatch.setenv("AIRFLOW_CONN_AEP_SCRIPTED", server.connection())
        yield server


def flow_service_requests(emu, method=None):
    return [r for r in emu.requests if r.path.startswith("/data/foundation/flowservice") and method in (None, r.method)]


# -- one retry rule ------------------------------------------------------------------------------


def test_answer_cut_mid_body_is_retried(scripted):
    scripted.script(f"{FLOWS}/{FLOW_ID}", CUT, json_answer({"items": [{"id": FLOW_ID}]}))
    assert AdobeFlowServiceHook("aep_scripted").get_flow(FLOW_ID)["id"] == FLOW_ID
    assert len(scripted.requests_to(f"{FLOWS}/{FLOW_ID}")) == 2


def test_408_is_retried(aep_emulator):
    aep_emulator.inject("status", status=408, method="GET", max_count=1)
    assert AdobeFlowServiceHook().get_flow(TABLE_FLOW_ID)["id"] == TABLE_FLOW_ID
    assert [r.status for r in flow_service_requests(aep_emulator)] == [408, 200]


def test_non_json_success_body_is_retried(scripted):
    scripted.script(f"{FLOWS}/{FLOW_ID}", text_answer("<html>proxy</html>"), json_answer({"items": [{"id": FLOW_ID}]}))
    assert AdobeFlowServiceHook("aep_scripted").get_flow(FLOW_ID)["id"] == FLOW_ID
    assert len(scripted.requests_to(f"{FLOWS}/{FLOW_ID}")) == 2


def test_non_json_success_body_is_a_flow_service_error_naming_the_call(scripted):
    scripted.script(f"{FLOWS}/{FLOW_ID}", text_answer("<html><body>Gateway maintenance</body></html>"))
    with pytest.raises(FlowServiceError) as info:
        AdobeFlowServiceHook("aep_scripted").get_flow(FLOW_ID)
    assert not isinstance(info.value, FlowServiceFatalError), "retryable, as no answer is"
    text = str(info.value)
    for part in ("GET", f"{FLOWS}/{FLOW_ID}", "HTTP 200", "not JSON", "<html><body>Gateway"):
        assert part in text
    assert len(scripted.requests_to(f"{FLOWS}/{FLOW_ID}")) == AdobeFlowServiceHook.retry_policy.max_attempts


def test_retry_after_is_honoured_and_capped(aep_emulator, monkeypatch, capsys):
    monkeypatch.setattr(AdobeFlowServiceHook, "retry_policy", RetryPolicy(base_delay=5, max_retry_after=0.4))
    aep_emulator.inject("status", status=503, method="GET", nth=[1], retry_after=0.2)
    aep_emulator.inject("status", status=429, method="GET", nth=[2], retry_after=3600)
    AdobeFlowServiceHook().get_flow(TABLE_FLOW_ID)
    assert re.findall(r"; (retry \d+ in [\d.]+ s)", capsys.readouterr().out) == ["retry 1 in 0.2 s", "retry 2 in 0.4 s"]


def test_retries_are_tenacity_controllers_of_one_policy():
    policy = RetryPolicy()
    assert isinstance(policy.retrying(logging.getLogger(__name__)), tenacity.Retrying)
    assert isinstance(policy.async_retrying(logging.getLogger(__name__)), tenacity.AsyncRetrying)


def test_a_refused_token_is_repeated_once_and_not_counted_as_a_retry(aep_emulator, token_cache, monkeypatch):
    monkeypatch.setattr(AdobeFlowServiceHook, "retry_policy", RetryPolicy(max_attempts=2, base_delay=0.01))
    hook = AdobeFlowServiceHook()
    hook.get_flow(TABLE_FLOW_ID)
    aep_emulator.revoke_tokens()
    aep_emulator.inject("status", status=503, method="GET", nth=[2])  # the first attempt with the new token
    assert hook.get_flow(TABLE_FLOW_ID)["id"] == TABLE_FLOW_ID
    assert [r.status for r in flow_service_requests(aep_emulator)] == [200, 401, 503, 200]


# -- HttpHook as its users expect -----------------------------------------------------------------


def test_run_is_httphooks_run_returning_a_response(aep_emulator):
    response = AdobeFlowServiceHook().run("/flows", data={"limit": 1})
    assert isinstance(response, requests.Response)
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1
    (seen,) = flow_service_requests(aep_emulator)
    assert (seen.path, seen.params) == ("/data/foundation/flowservice/flows", [("limit", "1")])


def test_run_raises_airflow_exception_on_an_http_error(aep_emulator):
    with pytest.raises(AirflowException, match="404"):
        AdobeFlowServiceHook().run(f"/flows/{uuid.uuid4()}")


def test_per_call_headers_do_not_leak_into_later_requests(aep_emulator):
    hook = AdobeFlowServiceHook()
    hook.run("/flows", data={"limit": 1}, headers={"X-Trace-Id": "trace-1"})
    hook.get_conn(headers={"X-Other": "other-1"})
    hook.get_flow(TABLE_FLOW_ID)
    first, second = flow_service_requests(aep_emulator)
    assert first.headers.get("x-trace-id") == "trace-1", "per-call headers are sent with their own call"
    assert "x-trace-id" not in second.headers
    assert "x-other" not in second.headers


def test_the_session_authenticates_with_the_bearer_token_never_basic(aep_emulator, token_cache):
    hook = AdobeFlowServiceHook()
    session = hook.get_conn()
    answer = session.get(hook.url_from_endpoint(f"/flows/{TABLE_FLOW_ID}"), timeout=10)
    assert answer.status_code == 200, answer.text
    hook.run("/flows", data={"limit": 1})
    schemes = {r.headers.get("authorization", "").split(" ")[0] for r in flow_service_requests(aep_emulator)}
    assert schemes == {"Bearer"}
    assert session is hook.get_conn(), "one keep-alive session for the hook's life"


# -- a lost POST answer never becomes a second run ------------------------------------------------


def test_lost_post_answer_is_not_resent_when_the_listing_lags(aep_emulator):
    aep_emulator.visibility_delay = 12
    aep_emulator.inject("commit_then_502", max_count=1)
    with pytest.raises(FlowServiceError, match="not sent again in this try") as info:
        AdobeFlowServiceHook().create_run(FILE_FLOW_ID, **WINDOW)
    assert not isinstance(info.value, FlowServiceFatalError), "the next try must run, and adopt the run"
    assert info.value.possibly_committed is True
    assert "next try looks the run up" in str(info.value)
    assert len(aep_emulator.runs(FILE_FLOW_ID)) == 1
    assert len(flow_service_requests(aep_emulator, "POST")) == 1


def test_lost_answer_lookup_starts_one_clock_skew_before_the_post(aep_emulator):
    aep_emulator.inject("commit_then_502", max_count=1)
    before_ms = int(time.time() * 1000)
    AdobeFlowServiceHook().create_run(FILE_FLOW_ID, **WINDOW)
    (lookup, *_) = flow_service_requests(aep_emulator, "GET")
    (since,) = [int(value.split(">", 1)[1]) for name, value in lookup.params if value.startswith("createdAt>")]
    assert api.CLOCK_SKEW_MS == 30_000
    assert before_ms - api.CLOCK_SKEW_MS <= since <= before_ms - api.CLOCK_SKEW_MS + 5_000


def test_refused_post_is_retried_by_the_policy(aep_emulator):
    aep_emulator.inject("status", status=429, method="POST", path="/runs$", max_count=1)
    aep_emulator.inject("status", status=503, method="POST", path="/runs$", nth=[2], max_count=1)
    created = AdobeFlowServiceHook().create_run(FILE_FLOW_ID, **WINDOW)
    assert [run["id"] for run in aep_emulator.runs(FILE_FLOW_ID)] == [created["id"]]
    assert [r.status for r in flow_service_requests(aep_emulator, "POST")] == [429, 503, 201]


# -- credentials stay with the configured gateway -------------------------------------------------


def runs_page(*runs: dict, next_href: str | None = None) -> Answer:
    return json_answer({"items": list(runs), "_links": {"next": {"href": next_href}} if next_href else {}})


def run_item(created_at: int, window_start: int = 100, window_end: int = 200) -> dict:
    params = {"windowStartTime": window_start, "windowEndTime": window_end}
    return {"id": str(uuid.uuid4()), "createdAt": created_at, "params": params}


def test_next_link_to_another_origin_is_refused_before_any_request(scripted):
    with ScriptedServer() as elsewhere:
        elsewhere.script(RUNS, runs_page(run_item(1)))
        foreign = f"{elsewhere.url}{RUNS}?continuationToken=abc"
        scripted.script(RUNS, runs_page(run_item(2), next_href=foreign))
        listed = []
        with pytest.raises(FlowServiceFatalError) as info:
            listed.extend(AdobeFlowServiceHook("aep_scripted").list_runs(FLOW_ID))
        assert elsewhere.seen == [], "no request, no token, API key or org id to another origin"
    assert foreign in str(info.value)
    assert len(listed) == 1, "the page from the gateway was still read"


@pytest.mark.parametrize("foreign", ["//127.0.0.2/data/foundation/flowservice/runs?x=1", "https://127.0.0.1/runs"])
def test_next_links_on_another_scheme_host_or_port_are_refused(scripted, foreign):
    scripted.script(RUNS, runs_page(run_item(2), next_href=foreign))
    with pytest.raises(FlowServiceFatalError, match="next-page link"):
        list(AdobeFlowServiceHook("aep_scripted").list_runs(FLOW_ID))
    assert len(scripted.requests_to(RUNS)) == 1


def test_query_only_next_link_resolves_against_the_page_path(scripted):
    scripted.script(RUNS, runs_page(run_item(3), next_href="?continuationToken=page-2"), runs_page(run_item(2)))
    assert len(list(AdobeFlowServiceHook("aep_scripted").list_runs(FLOW_ID))) == 2
    _first, second = scripted.requests_to(RUNS)
    assert second.query == {"continuationToken": ["page-2"]}


def test_relative_next_links_keep_working(scripted):
    scripted.script(
        RUNS,
        runs_page(run_item(4), next_href="/runs?continuationToken=p2"),
        runs_page(run_item(3), next_href=f"{RUNS}?continuationToken=p3"),
        runs_page(run_item(2)),
    )
    assert len(list(AdobeFlowServiceHook("aep_scripted").list_runs(FLOW_ID))) == 3
    assert [seen.query.get("continuationToken") for seen in scripted.requests_to(RUNS)] == [None, ["p2"], ["p3"]]


def test_window_lookup_stops_paging_at_runs_older_than_its_start(scripted):
    scripted.script(RUNS, runs_page(run_item(5_000), run_item(900), next_href="?continuationToken=older"))
    hook = AdobeFlowServiceHook("aep_scripted")
    assert hook.find_window_run(FLOW_ID, 1, 2, created_after_ms=1_000) is None
    assert len(scripted.requests_to(RUNS)) == 1, "only older runs could follow"


# -- the UI's Test button answers fast ------------------------------------------------------------


def test_connection_test_names_the_gateway_when_flow_service_drops_and_does_not_retry(scripted):
    scripted.script(FLOWS, DROP)
    ok, message = AdobeFlowServiceHook("aep_scripted").test_connection()
    assert not ok
    assert message.startswith("gateway:"), message
    assert len(scripted.requests_to(FLOWS)) == 1
    assert SECRET not in message


def test_connection_test_names_the_gateway_when_its_port_is_closed(scripted, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AEP_SCRIPTED", scripted.connection(host=closed_port_url()))
    ok, message = AdobeFlowServiceHook("aep_scripted").test_connection()
    assert not ok
    assert message.startswith("gateway:"), message
    assert len(scripted.requests_to("/ims/token/v3")) == 1


def test_connection_test_gives_a_slow_gateway_one_short_try(scripted, monkeypatch):
    monkeypatch.setattr("airflow_flowrun.hooks.probe.TEST_TIMEOUT", 0.5)
    scripted.script(FLOWS, Answer("slow", delay=2.0, body={"items": []}))
    ok, message = AdobeFlowServiceHook("aep_scripted").test_connection()
    assert not ok
    assert message.startswith("gateway:"), message
    assert len(scripted.requests_to(FLOWS)) == 1


def test_connection_test_names_the_token_step_when_ims_is_unreachable(aep_emulator, monkeypatch, token_cache):
    conn = dict(aep_emulator.connection_dict)
    conn["extra"] = {**conn["extra"], "ims_token_url": closed_port_url() + "/ims/token/v3"}
    monkeypatch.setenv("AIRFLOW_CONN_AEP_NO_IMS", json.dumps(conn))
    ok, message = AdobeFlowServiceHook("aep_no_ims").test_connection()
    assert not ok
    assert message.startswith("token:"), message
    assert flow_service_requests(aep_emulator) == []
    assert conn["password"] not in message


def test_connection_test_asks_ims_once_when_it_drops(scripted, monkeypatch):
    with ScriptedServer() as ims:
        monkeypatch.setenv("AIRFLOW_CONN_AEP_SCRIPTED", scripted.connection(ims_url=ims.url + "/ims/token"))
        ims.script("/ims/token", DROP)
        ok, message = AdobeFlowServiceHook("aep_scripted").test_connection()
        assert len(ims.requests_to("/ims/token")) == 1
    assert not ok
    assert message.startswith("token:"), message
    assert scripted.requests_to(FLOWS) == []


@pytest.mark.parametrize(
    ("extra", "step"), [({"org_id": "WRONG00000000000@AdobeOrg"}, "org"), ({"sandbox_name": "nosuch"}, "sandbox")]
)
def test_connection_test_names_a_refused_org_or_sandbox(aep_emulator, monkeypatch, token_cache, extra, step):
    conn = dict(aep_emulator.connection_dict)
    conn["extra"] = {**conn["extra"], **extra}
    monkeypatch.setenv("AIRFLOW_CONN_AEP_WRONG", json.dumps(conn))
    ok, message = AdobeFlowServiceHook("aep_wrong").test_connection()
    assert not ok
    assert message.startswith(f"{step}:"), message
    assert len(flow_service_requests(aep_emulator)) == 1, "no retries"
    assert conn["password"] not in message
