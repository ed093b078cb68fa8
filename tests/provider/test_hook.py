"""The sync hook against the emulator over loopback HTTP: requests, tokens, retries and errors."""

from __future__ import annotations

import json
import time

import pytest
from airflow.sdk.log import redact

from airflow_flowrun.emulator import CLIENT_SECRET, FAILING_FLOW_ID, FILE_FLOW_ID, TABLE_FLOW_ID
from airflow_flowrun.exceptions import FlowServiceError, FlowServiceFatalError, InvalidParameterError
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

WINDOW = {"window_start": 1795824000, "window_end": 1795827600}


def flow_service_requests(emu, method=None, suffix=""):
    return [
        r
        for r in emu.requests
        if r.path.startswith("/data/foundation/flowservice")
        and (method is None or r.method == method)
        and r.path.endswith(suffix)
    ]


def test_create_run_sends_integer_seconds_and_platform_headers(aep_emulator, token_cache):
    hook = AdobeFlowServiceHook()
    created = hook.create_run(
        TABLE_FLOW_ID, window_start="2026-11-28T00:00:00Z", window_end=1795827600, start_time=1795824000,
        delta_column="updated_at",
    )  # fmt: skip
    (post,) = flow_service_requests(aep_emulator, "POST", "/runs")
    assert post.body == {
        "flowId": TABLE_FLOW_ID,
        "params": {
            "startTime": 1795824000,
            "windowStartTime": 1795824000,
            "windowEndTime": 1795827600,
            "deltaColumn": {"name": "updated_at"},
        },
    }
    headers = post.headers
    assert headers["x-api-key"] == "emulator-client-id"
    assert headers["x-gw-ims-org-id"] == "EMULATOR0000000000000000@AdobeOrg"
    assert headers["x-sandbox-name"] == "prod"
    assert headers["content-type"] == "application/json"
    assert headers["authorization"].startswith("Bearer")
    assert not {"org_id", "sandbox_name", "ims_token_url"} & set(headers)
    assert created["id"] == aep_emulator.runs(TABLE_FLOW_ID)[0]["id"]


@pytest.mark.parametrize("shape", ["items", "bare", "run"])
def test_create_run_reads_every_documented_answer_shape(aep_emulator, shape):
    aep_emulator.update_settings(create_run_response_shape=shape)
    created = AdobeFlowServiceHook().create_run(FILE_FLOW_ID, **WINDOW)
    assert created["id"] == aep_emulator.runs(FILE_FLOW_ID)[0]["id"]
    assert "etag" in created


def test_one_token_per_process_is_reused_across_hooks(aep_emulator, token_cache):
    for _ in range(3):
        AdobeFlowServiceHook().get_flow(TABLE_FLOW_ID)
    assert aep_emulator.token_requests == 1


def test_token_is_masked_in_logs(aep_emulator, token_cache):
    AdobeFlowServiceHook().get_flow(TABLE_FLOW_ID)
    token = next(iter(token_cache._tokens.values())).value
    assert redact(f"token {token} here") == "token *** here"


def test_expired_token_is_refreshed_before_use(aep_emulator, token_cache):
    aep_emulator.token_lifetime = 1
    hook = AdobeFlowServiceHook()
    hook.get_flow(TABLE_FLOW_ID)
    time.sleep(1.2)
    hook.get_flow(TABLE_FLOW_ID)
    assert aep_emulator.token_requests == 2
    assert all(r.status == 200 for r in flow_service_requests(aep_emulator))


def test_401_drops_the_token_and_retries_once(aep_emulator, token_cache):
    hook = AdobeFlowServiceHook()
    hook.get_flow(TABLE_FLOW_ID)
    aep_emulator.revoke_tokens()  # the cached token is now unknown to the gateway
    assert hook.get_flow(TABLE_FLOW_ID)["id"] == TABLE_FLOW_ID
    assert [r.status for r in flow_service_requests(aep_emulator)] == [200, 401, 200]
    assert aep_emulator.token_requests == 2


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(aep_emulator, status):
    aep_emulator.inject("status", status=status, method="GET", max_count=2, retry_after=0.1)
    assert AdobeFlowServiceHook().get_flow(TABLE_FLOW_ID)["id"] == TABLE_FLOW_ID
    assert [r.status for r in flow_service_requests(aep_emulator)] == [status, status, 200]


def test_retry_after_is_honoured(aep_emulator, monkeypatch):
    from airflow_flowrun.retry import RetryPolicy

    monkeypatch.setattr(AdobeFlowServiceHook, "retry_policy", RetryPolicy(base_delay=0.01, max_retry_after=5))
    aep_emulator.inject("status", status=429, method="GET", max_count=1, retry_after=1)
    AdobeFlowServiceHook().get_flow(TABLE_FLOW_ID)
    first, second = flow_service_requests(aep_emulator)
    assert second.timestamp - first.timestamp >= 0.9


def test_dropped_connections_are_retried(aep_emulator):
    aep_emulator.inject("drop", method="GET", max_count=2)
    assert AdobeFlowServiceHook().get_flow(TABLE_FLOW_ID)["id"] == TABLE_FLOW_ID
    assert [r.status for r in flow_service_requests(aep_emulator)] == [None, None, 200]


def test_client_errors_are_not_retried_and_carry_adobe_details(aep_emulator):
    hook = AdobeFlowServiceHook()
    with pytest.raises(FlowServiceFatalError) as info:
        hook.create_run(TABLE_FLOW_ID, **WINDOW)  # first run of a table flow needs a delta column
    err = info.value
    assert (err.status, err.code) == (400, "FLOW-1383-400")
    assert err.request_id
    assert err.message
    for part in ("HTTP 400", "FLOW-1383-400", err.request_id, err.message):
        assert part in str(err)
    assert len(flow_service_requests(aep_emulator, "POST")) == 1


def test_retries_give_up_after_the_policy_allows(aep_emulator):
    aep_emulator.inject("status", status=503, method="GET")
    with pytest.raises(FlowServiceError) as info:
        AdobeFlowServiceHook().get_flow(TABLE_FLOW_ID)
    assert not isinstance(info.value, FlowServiceFatalError)
    assert info.value.status == 503
    assert len(flow_service_requests(aep_emulator)) == AdobeFlowServiceHook.retry_policy.max_attempts


def test_post_that_committed_before_a_502_is_not_sent_twice(aep_emulator):
    aep_emulator.inject("commit_then_502", method="POST", path="/runs$", max_count=1)
    created = AdobeFlowServiceHook().create_run(FILE_FLOW_ID, **WINDOW)
    assert created["adopted"] is True
    assert [run["id"] for run in aep_emulator.runs(FILE_FLOW_ID)] == [created["id"]]


def test_lost_post_answer_waits_out_the_visibility_delay(aep_emulator):
    aep_emulator.visibility_delay = 1.0
    aep_emulator.inject("commit_then_502", method="POST", path="/runs$", max_count=1)
    created = AdobeFlowServiceHook().create_run(FILE_FLOW_ID, **WINDOW)
    assert [run["id"] for run in aep_emulator.runs(FILE_FLOW_ID)] == [created["id"]]


def test_window_lookup_checks_creation_time_itself(aep_emulator, monkeypatch):
    from airflow_flowrun import api

    old = AdobeFlowServiceHook().create_run(FILE_FLOW_ID, **WINDOW)  # another day's ingestion of the window
    created_at = aep_emulator.runs(FILE_FLOW_ID)[0]["createdAt"]
    lookup_params = api.window_lookup_params

    def ignoring_created_at(flow_id, created_after_ms):  # as a service that ignored the filter
        params = lookup_params(flow_id, created_after_ms)
        return {**params, "property": [p for p in params["property"] if not p.startswith("createdAt")]}

    monkeypatch.setattr(api, "window_lookup_params", ignoring_created_at)
    hook = AdobeFlowServiceHook()
    start, end = WINDOW["window_start"], WINDOW["window_end"]
    assert hook.find_window_run(FILE_FLOW_ID, start, end, created_after_ms=created_at - 1)["id"] == old["id"]
    assert hook.find_window_run(FILE_FLOW_ID, start, end, created_after_ms=created_at) is None


def test_dropped_post_is_not_resent_within_the_try(aep_emulator, monkeypatch):
    # The client cannot tell a POST dropped before commit from one dropped after: it never re-sends.
    monkeypatch.setattr(AdobeFlowServiceHook, "lost_answer_grace", 0.2)
    aep_emulator.inject("drop", method="POST", path="/runs$", max_count=1)
    with pytest.raises(FlowServiceError, match="not sent again in this try") as info:
        AdobeFlowServiceHook().create_run(FILE_FLOW_ID, **WINDOW)
    assert not isinstance(info.value, FlowServiceFatalError)
    assert info.value.possibly_committed is True
    assert aep_emulator.runs(FILE_FLOW_ID) == []
    assert len(flow_service_requests(aep_emulator, "POST")) == 1


def test_list_runs_follows_next_links_across_pages(aep_emulator):
    hook = AdobeFlowServiceHook()
    for hour in range(250):
        hook.create_run(FILE_FLOW_ID, window_start=1795824000 + hour * 3600, window_end=1795827600 + hour * 3600)
    runs = list(hook.list_runs(FILE_FLOW_ID))
    assert len(runs) == 250
    assert len({run["id"] for run in runs}) == 250
    created = [run["createdAt"] for run in runs]
    assert created == sorted(created, reverse=True)
    assert len(flow_service_requests(aep_emulator, "GET", "/runs")) == 3


def test_get_runs_reads_many_runs_in_one_call(aep_emulator):
    hook = AdobeFlowServiceHook()
    ids = [hook.create_run(FILE_FLOW_ID, window_start=1795824000 + i, window_end=1795827600)["id"] for i in range(5)]
    assert sorted(run["id"] for run in hook.get_runs(ids)) == sorted(ids)
    assert len(flow_service_requests(aep_emulator, "GET", "/runs")) == 1


def test_get_run_and_get_flow_return_the_objects(aep_emulator):
    hook = AdobeFlowServiceHook()
    run_id = hook.create_run(FAILING_FLOW_ID, **WINDOW)["id"]
    assert hook.get_run(run_id)["flowId"] == FAILING_FLOW_ID
    assert hook.get_flow(FAILING_FLOW_ID)["scheduleParams"]["frequency"] == "once"


def test_test_connection_reports_success_and_failure(aep_emulator, monkeypatch):
    ok, message = AdobeFlowServiceHook().test_connection()
    assert ok, message
    bad = dict(aep_emulator.connection_dict, password="wrong-secret-value")
    monkeypatch.setenv("AIRFLOW_CONN_AEP_BAD", json.dumps(bad))
    ok, message = AdobeFlowServiceHook("aep_bad").test_connection()
    assert not ok
    assert "invalid_client" in message
    assert "wrong-secret-value" not in message


def test_wrong_credentials_fail_without_retries(aep_emulator, monkeypatch, token_cache):
    bad = dict(aep_emulator.connection_dict, password="wrong-secret-value")
    monkeypatch.setenv("AIRFLOW_CONN_AEP_BAD", json.dumps(bad))
    with pytest.raises(FlowServiceFatalError, match="invalid_client"):
        AdobeFlowServiceHook("aep_bad").get_flow(TABLE_FLOW_ID)
    assert aep_emulator.token_requests == 1


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"login": ""}, "login (OAuth client id)"),
        ({"password": None}, "password (OAuth client secret)"),
        ({"extra": {"sandbox_name": "prod"}}, "extra.org_id"),
        ({"host": "ftp://example.com"}, "host"),
        ({"extra": {"org_id": "X@AdobeOrg", "timeout": "soon"}}, "extra.timeout"),
    ],
)
def test_bad_connection_fields_are_named_before_any_call(aep_emulator, monkeypatch, change, fragment):
    monkeypatch.setenv("AIRFLOW_CONN_AEP_BAD", json.dumps(dict(aep_emulator.connection_dict, **change)))
    with pytest.raises(InvalidParameterError) as info:
        AdobeFlowServiceHook("aep_bad").get_flow(TABLE_FLOW_ID)
    assert fragment in str(info.value)
    assert CLIENT_SECRET not in str(info.value)
    assert aep_emulator.requests == []
