"""Fixtures of the trigger tests: an emulator per session, reset for each test, and trigger runners."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_flowrun.retry import RetryPolicy

#: Retries as the default policy would make them, only quicker (the tests inject their own faults).
FAST_RETRIES = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2, max_retry_after=1.0)


@pytest.fixture
def emulator(aep_emulator: Any, monkeypatch: pytest.MonkeyPatch, token_cache: Any) -> Any:
    """The session's emulator, reset and set as ``aep_default``, with a cold token cache and quick retries.

    Runs last one second unless a test configures its flow otherwise.
    """
    from airflow_flowrun.hooks.flow_service_async import AdobeFlowServiceAsyncHook

    monkeypatch.setattr(AdobeFlowServiceAsyncHook, "retry_policy", FAST_RETRIES)
    return aep_emulator


@pytest.fixture
def create_run(emulator: Any, token_cache: Any):
    """Create a run of a seeded flow through the sync hook; the token it used is forgotten afterwards."""
    from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

    hook = AdobeFlowServiceHook()

    def create(flow_id: str, delta_column: str | None = None) -> str:
        end = int(time.time()) - 3600
        run = hook.create_run(flow_id, window_start=end - 3600, window_end=end, delta_column=delta_column)
        token_cache.clear()
        return run["id"]

    return create


@pytest.fixture
def run_trigger() -> Any:
    """Run one trigger in a fresh event loop (as ``dag.test()`` does), bounded; returns its event payload."""

    def run(trigger: Any, timeout: float = 15.0) -> dict[str, Any]:
        return asyncio.run(asyncio.wait_for(first_event(trigger), timeout))

    return run


@pytest.fixture
def event_of() -> Any:
    """``await event_of(trigger)``: the trigger's event payload, for tests running many triggers in one loop."""
    return first_event


async def first_event(trigger: Any) -> dict[str, Any]:
    """The payload of the one event a trigger yields; fails if it yields none or a second one."""
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1, f"{trigger!r} yielded {len(events)} events: {events}"
    return events[0]
