"""The async hook on its own: batched and single reads, one session, one token, the sync hook's error rules."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from airflow_flowrun.emulator import FILE_FLOW_ID
from airflow_flowrun.exceptions import FlowServiceError, FlowServiceFatalError, InvalidParameterError
from airflow_flowrun.hooks.flow_service_async import AdobeFlowServiceAsyncHook


def run(coroutine, timeout: float = 10.0):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def test_get_runs_reads_several_runs_in_one_call(emulator, create_run):
    run_ids = [create_run(FILE_FLOW_ID) for _ in range(3)]
    unknown = str(uuid.uuid4())
    calls_before = emulator.stats()["total_requests"]

    async def read():
        async with AdobeFlowServiceAsyncHook() as hook:
            return await hook.get_runs([*run_ids, unknown])

    runs = run(read())

    assert sorted(r["id"] for r in runs) == sorted(run_ids), "an unknown run is simply absent"
    assert emulator.stats()["total_requests"] - calls_before == 2, "one token request, one list call"


def test_get_runs_refuses_more_than_100_ids():
    async def read():
        async with AdobeFlowServiceAsyncHook() as hook:
            await hook.get_runs([str(uuid.uuid4()) for _ in range(101)])

    with pytest.raises(ValueError, match="at most 100"):
        run(read())


def test_get_run_of_unknown_run_is_a_fatal_404(emulator):
    async def read():
        async with AdobeFlowServiceAsyncHook() as hook:
            return await hook.get_run(str(uuid.uuid4()))

    with pytest.raises(FlowServiceFatalError) as caught:
        run(read())

    assert caught.value.status == 404
    assert caught.value.code == "FLOW-1101-404"


def test_hook_keeps_one_session_and_one_token_and_closes_on_exit(emulator, create_run):
    run_id = create_run(FILE_FLOW_ID)

    async def read_twice():
        async with AdobeFlowServiceAsyncHook() as hook:
            first = await hook.get_run(run_id)
            session = hook._session
            second = await hook.get_run(run_id)
            assert hook._session is session
        return first, second, session

    first, second, session = run(read_twice())

    assert first["id"] == second["id"] == run_id
    assert session.closed
    assert emulator.token_requests == 2, "one for creating the run, one for both reads"


def test_other_4xx_is_not_retried(emulator, create_run):
    run_id = create_run(FILE_FLOW_ID)
    emulator.inject("status", status=403, path="/runs/")
    reads_before = emulator.stats()["total_requests"]

    async def read():
        async with AdobeFlowServiceAsyncHook() as hook:
            await hook.get_run(run_id)

    with pytest.raises(FlowServiceFatalError, match="403"):
        run(read())

    assert emulator.stats()["total_requests"] - reads_before == 2, "the token request and one read"


def test_retry_after_is_honoured(emulator, create_run):
    run_id = create_run(FILE_FLOW_ID)
    emulator.inject("status", status=503, retry_after=0.5, path="/runs/", nth=[1])

    async def timed_read():
        loop = asyncio.get_running_loop()
        async with AdobeFlowServiceAsyncHook() as hook:
            started = loop.time()
            await hook.get_run(run_id)
            return loop.time() - started

    assert run(timed_read()) >= 0.5


def test_unreachable_service_is_a_retryable_error_after_the_retries(emulator, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_DEFAULT",
        emulator.connection.replace(emulator.url.rstrip("/"), "http://127.0.0.1:9"),
    )

    async def read():
        async with AdobeFlowServiceAsyncHook() as hook:
            await hook.get_run(str(uuid.uuid4()))

    with pytest.raises(FlowServiceError, match="no answer") as caught:
        run(read())

    assert not isinstance(caught.value, FlowServiceFatalError)


def test_invalid_connection_is_refused_before_any_call(emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", '{"conn_type": "aep", "login": "id", "password": "secret"}')

    async def settings():
        return await AdobeFlowServiceAsyncHook().settings()

    with pytest.raises(InvalidParameterError, match="org_id"):
        run(settings())
    assert emulator.stats()["total_requests"] == 0
