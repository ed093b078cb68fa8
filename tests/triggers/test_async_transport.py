"""The async hook's transport over real loopback HTTP: the sync hook's retry rule, and its paging rules.

Odd answers the emulator cannot give come from a small scripted server (``tests/scripted_server.py``).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from scripted_server import CUT, ScriptedServer, json_answer, text_answer

from airflow_flowrun.emulator import FILE_FLOW_ID
from airflow_flowrun.exceptions import FlowServiceError, FlowServiceFatalError
from airflow_flowrun.hooks.flow_service_async import AdobeFlowServiceAsyncHook

RUN_ID = "9d1c6a2e-3b4f-4e5d-8c7b-6a5f4e3d2c1b"
FLOW_ID = "5c0a5bd1-7c3e-4f0e-9d6b-0f1e2d3c4b5a"
RUNS = "/data/foundation/flowservice/runs"


def run(coroutine, timeout: float = 15.0):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


@pytest.fixture
def scripted(emulator, monkeypatch):
    """A scripted gateway + IMS as ``aep_default`` (quick retries and a cold token cache come with ``emulator``)."""
    with ScriptedServer() as server:
        monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", server.connection())
        yield server


async def read_run(run_id: str) -> dict:
    async with AdobeFlowServiceAsyncHook() as hook:
        return await hook.get_run(run_id)


async def list_all(flow_id: str, **filters) -> list[dict]:
    async with AdobeFlowServiceAsyncHook() as hook:
        return [listed async for listed in hook.list_runs(flow_id, **filters)]


def runs_page(*runs: dict, next_href: str | None = None):
    return json_answer({"items": list(runs), "_links": {"next": {"href": next_href}} if next_href else {}})


def run_item(created_at: int) -> dict:
    return {"id": str(uuid.uuid4()), "createdAt": created_at, "params": {"windowStartTime": 1, "windowEndTime": 2}}


def test_answer_cut_mid_body_is_retried(scripted):
    scripted.script(f"{RUNS}/{RUN_ID}", CUT, json_answer({"items": [{"id": RUN_ID}]}))
    assert run(read_run(RUN_ID))["id"] == RUN_ID
    assert len(scripted.requests_to(f"{RUNS}/{RUN_ID}")) == 2


def test_408_is_retried(emulator, create_run):
    run_id = create_run(FILE_FLOW_ID)
    emulator.inject("status", status=408, path="/runs/", max_count=1)
    assert run(read_run(run_id))["id"] == run_id
    assert [r.status for r in emulator.requests if r.path.endswith(run_id)] == [408, 200]


def test_non_json_success_body_is_retried_then_raised_clearly(scripted):
    scripted.script(f"{RUNS}/{RUN_ID}", text_answer("<html>Service maintenance</html>"))
    with pytest.raises(FlowServiceError) as info:
        run(read_run(RUN_ID))
    assert not isinstance(info.value, FlowServiceFatalError)
    for part in ("GET", f"{RUNS}/{RUN_ID}", "HTTP 200", "not JSON", "<html>Service maintenance"):
        assert part in str(info.value)
    assert len(scripted.requests_to(f"{RUNS}/{RUN_ID}")) == AdobeFlowServiceAsyncHook.retry_policy.max_attempts


def test_a_refused_token_is_repeated_once_with_a_new_one(emulator, create_run):
    run_id = create_run(FILE_FLOW_ID)
    run(read_run(run_id))
    emulator.revoke_tokens()
    assert run(read_run(run_id))["id"] == run_id
    assert [r.status for r in emulator.requests if r.path.endswith(run_id)] == [200, 401, 200]


def test_list_runs_reads_a_flows_runs_with_filters(emulator, create_run):
    run_ids = [create_run(FILE_FLOW_ID) for _ in range(3)]
    assert {item["id"] for item in run(list_all(FILE_FLOW_ID))} == set(run_ids)
    assert {item["id"] for item in run(list_all(FILE_FLOW_ID, id=run_ids[:2]))} == set(run_ids[:2])


def test_list_runs_pages_with_query_only_and_relative_links(scripted):
    scripted.script(
        RUNS,
        runs_page(run_item(4), next_href="?continuationToken=p2"),
        runs_page(run_item(3), next_href="/runs?continuationToken=p3"),
        runs_page(run_item(2)),
    )
    assert len(run(list_all(FLOW_ID))) == 3
    assert [seen.query.get("continuationToken") for seen in scripted.requests_to(RUNS)] == [None, ["p2"], ["p3"]]


def test_list_runs_refuses_a_next_link_to_another_origin_before_any_request(scripted):
    with ScriptedServer() as elsewhere:
        foreign = f"{elsewhere.url}{RUNS}?continuationToken=abc"
        scripted.script(RUNS, runs_page(run_item(2), next_href=foreign))
        with pytest.raises(FlowServiceFatalError) as info:
            run(list_all(FLOW_ID))
        assert elsewhere.seen == []
    assert foreign in str(info.value)
