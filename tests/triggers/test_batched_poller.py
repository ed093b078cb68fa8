"""Many triggers, one poller: batched status reads, one token, one lookup, clean cancellation."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import math
import time

from airflow_flowrun.emulator import FILE_FLOW_ID
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.hooks.flow_service_async import AdobeFlowServiceAsyncHook
from airflow_flowrun.triggers import _poller
from airflow_flowrun.triggers.flow_run import AdobeFlowRunTrigger

POLL = 0.3
RUNS_PATH = "/data/foundation/flowservice/runs"
#: More triggers than one page of ``GET /runs`` holds (100 ids), so that every cycle needs two list calls.
#: Thousands of triggers are ``benchmarks/triggerer_scale.py``'s business (``make bench``).
MANY = 150


def create_runs(emulator, create_run, count: int) -> list[str]:
    run_ids = [create_run(FILE_FLOW_ID) for _ in range(count)]
    return run_ids


def create_many_runs(token_cache, count: int) -> list[str]:
    """``count`` runs of the file flow created in a row by one sync hook (one token), in well under a second,
    so that all of them are still in progress when their triggers start; the token is forgotten afterwards."""
    hook = AdobeFlowServiceHook()
    end = int(time.time()) - 3600
    run_ids = [hook.create_run(FILE_FLOW_ID, window_start=end - 3600, window_end=end)["id"] for _ in range(count)]
    token_cache.clear()
    return run_ids


def status_reads(emulator, since: float) -> list:
    return [r for r in emulator.requests if r.method == "GET" and r.path.startswith(RUNS_PATH) and r.timestamp >= since]


def ids_of(read) -> list[str]:
    """The run ids one batched status read asked for (``property=id==a,b,c``)."""
    return dict(read.params)["property"].removeprefix("id==").split(",")


#: The poll cycle a status read belongs to: set around ``RunPoller._start_reads``, whose read tasks copy it.
CYCLE: contextvars.ContextVar[int] = contextvars.ContextVar("cycle", default=-1)


def record_cycles(monkeypatch) -> list[tuple[int, list[str]]]:
    """``(cycle, run ids)`` of every batched read the pollers make from now on, a cycle being one
    ``_start_reads`` (what one wake-up of the poller found due), whatever the machine's load does to timing."""
    reads: list[tuple[int, list[str]]] = []
    started = 0
    start_reads = _poller.RunPoller._start_reads
    get_runs = AdobeFlowServiceAsyncHook.get_runs

    def numbered_start_reads(poller, due):
        nonlocal started
        token = CYCLE.set(started)
        started += 1
        try:
            start_reads(poller, due)
        finally:
            CYCLE.reset(token)

    async def recorded_get_runs(hook, run_ids):
        reads.append((CYCLE.get(), list(run_ids)))
        return await get_runs(hook, run_ids)

    monkeypatch.setattr(_poller.RunPoller, "_start_reads", numbered_start_reads)
    monkeypatch.setattr(AdobeFlowServiceAsyncHook, "get_runs", recorded_get_runs)
    return reads


async def just_past_a_grid_time(poll_interval: float) -> None:
    """Sleep until the loop's clock has just passed a multiple of ``poll_interval`` (the poller's grid).

    Triggers that start there are read at once and then a whole interval later.
    """
    loop = asyncio.get_running_loop()
    await asyncio.sleep(poll_interval - loop.time() % poll_interval + 0.005)


def test_150_triggers_cost_two_list_calls_per_cycle_and_one_token(emulator, token_cache, event_of, monkeypatch):
    emulator.configure_flow(FILE_FLOW_ID, duration=3.0)
    run_ids = create_many_runs(token_cache, MANY)
    tokens_before = emulator.token_requests
    lookups = []
    original_lookup = AdobeFlowServiceAsyncHook.aget_connection.__func__

    async def counted_lookup(cls, conn_id):
        lookups.append(conn_id)
        return await original_lookup(cls, conn_id)

    monkeypatch.setattr(AdobeFlowServiceAsyncHook, "aget_connection", classmethod(counted_lookup))
    batched = record_cycles(monkeypatch)
    started = time.time()

    async def wait_all():
        await just_past_a_grid_time(POLL)
        triggers = [AdobeFlowRunTrigger(run_id, poll_interval=POLL) for run_id in run_ids]
        return await asyncio.wait_for(asyncio.gather(*(event_of(t) for t in triggers)), 20)

    events = asyncio.run(wait_all())

    assert [e["status"] for e in events] == ["success"] * MANY
    assert [e["run_id"] for e in events] == run_ids
    assert emulator.token_requests - tokens_before == 1
    assert len(lookups) == 1, "triggers starting together share one connection lookup"
    reads = status_reads(emulator, started)
    assert all(r.path == RUNS_PATH for r in reads), "every run was listed: no single reads"
    assert sorted(ids_of(r) for r in reads) == sorted(ids for _, ids in batched), "one HTTP call per batched read"
    assert all(len(ids) <= 100 for _, ids in batched)
    by_cycle: dict[int, list[list[str]]] = {}
    for cycle, ids in batched:
        by_cycle.setdefault(cycle, []).append(ids)
    # the triggers join over the first cycle or two (a slow start can split it); each run is read once there
    first_read: dict[str, int] = {}
    for cycle, ids in batched:
        for run_id in ids:
            first_read.setdefault(run_id, cycle)
    joined = [cycle for cycle in by_cycle if cycle <= max(first_read.values())]
    after_join = [cycle for cycle in sorted(by_cycle) if cycle not in joined]
    later = [sorted(run_id for ids in by_cycle[cycle] for run_id in ids) for cycle in after_join]
    assert len(joined) <= 2, by_cycle.keys()
    assert len(later) >= 2, f"{len(later)} cycles after the join: {[len(ids) for ids in later]}"
    # then every run still in progress is read in the same cycle as the others, in ceil(N/100) calls:
    # each cycle reads what the cycle before it read, less the runs that ended
    assert all(set(after) <= set(before) for before, after in itertools.pairwise(later)), "one grid for all"
    assert max(len(by_cycle[cycle]) for cycle in after_join) <= math.ceil(MANY / 100)
    assert max(len(ids) for ids in later) > 100, "a cycle after the join read more than a page of runs"


def test_triggers_keep_their_own_interval_and_outcome(emulator, create_run, event_of):
    emulator.configure_flow(FILE_FLOW_ID, duration=0.5)
    quick, slow = create_run(FILE_FLOW_ID), create_run(FILE_FLOW_ID)

    async def wait_both():
        return await asyncio.wait_for(
            asyncio.gather(
                event_of(AdobeFlowRunTrigger(quick, poll_interval=0.2)),
                event_of(AdobeFlowRunTrigger(slow, poll_interval=0.2, end_time=time.time() - 1)),
            ),
            10,
        )

    quick_event, slow_event = asyncio.run(wait_both())

    assert quick_event["status"] == "success"
    assert slow_event["status"] == "timeout"


def test_cancelled_trigger_leaves_the_others_running(emulator, create_run, event_of):
    emulator.configure_flow(FILE_FLOW_ID, duration=1.5)
    run_ids = create_runs(emulator, create_run, 3)

    async def cancel_one():
        tasks = [asyncio.create_task(event_of(AdobeFlowRunTrigger(run_id, poll_interval=POLL))) for run_id in run_ids]
        await asyncio.sleep(0.5)
        tasks[0].cancel()
        done = await asyncio.wait_for(asyncio.gather(*tasks[1:]), 10)
        return tasks[0].cancelled(), done, dict(_poller._POLLERS.get(asyncio.get_running_loop(), {}))

    first_cancelled, events, pollers_left = asyncio.run(cancel_one())

    assert first_cancelled
    assert [e["status"] for e in events] == ["success", "success"]
    assert pollers_left == {}, "the poller left the registry with its last trigger"


def test_poller_stops_and_closes_its_session_when_all_triggers_are_gone(emulator, create_run, event_of):
    emulator.configure_flow(FILE_FLOW_ID, duration=60)
    run_ids = create_runs(emulator, create_run, 5)

    async def cancel_all():
        tasks = [asyncio.create_task(event_of(AdobeFlowRunTrigger(run_id, poll_interval=0.2))) for run_id in run_ids]
        await asyncio.sleep(0.5)
        (poller,) = _poller._POLLERS[asyncio.get_running_loop()].values()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.wait_for(asyncio.shield(poller._task), 2)
        # A read sent just before the cancel can reach the emulator's log a moment after this; a live
        # poller would read again every 0.2 s, so reads later than one interval on are the ones that count.
        stopped_at = time.time() + 0.2
        await asyncio.sleep(1.0)
        return poller, stopped_at

    poller, stopped_at = asyncio.run(cancel_all())

    assert poller._task.done()
    assert not poller._task.cancelled(), "the poller ended by itself"
    assert poller._hook._session is None, "the poller closed its session"
    assert status_reads(emulator, stopped_at) == []


def test_each_event_loop_gets_its_own_poller_and_shares_the_token(emulator, create_run, run_trigger):
    run_ids = create_runs(emulator, create_run, 2)
    tokens_before = emulator.token_requests

    events = [run_trigger(AdobeFlowRunTrigger(run_id, poll_interval=POLL)) for run_id in run_ids]

    assert [e["status"] for e in events] == ["success", "success"]
    assert emulator.token_requests - tokens_before == 1, "the second loop reused the process's token"
