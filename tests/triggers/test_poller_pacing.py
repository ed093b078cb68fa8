"""A poll cycle wakes its triggers a slice at a time, so the triggerer's event loop keeps turning.

Airflow's triggerer warns that its loop "was blocked" when one turn takes over 0.2 s. A thousand
triggers woken in the same turn cost that much, so the poller hands its readings over
``DELIVERY_SLICE`` per turn. The check counts turns of the loop (a task that yields on every turn)
and, for each reading, the turn its waiter woke in.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from airflow_flowrun.emulator import FILE_FLOW_ID
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.triggers import _poller

RUNS = 150  # two list calls: 100 + 50 readings arrive together


def test_readings_of_one_cycle_wake_at_most_a_slice_of_waiters_per_loop_turn(emulator, token_cache):
    hook = AdobeFlowServiceHook()
    end = int(time.time()) - 3600
    run_ids = [hook.create_run(FILE_FLOW_ID, window_start=end - 3600, window_end=end)["id"] for _ in range(RUNS)]

    async def main() -> tuple[Counter[int], list[str]]:
        turn = 0
        stop = asyncio.Event()

        async def count_turns() -> None:
            nonlocal turn
            while not stop.is_set():
                turn += 1
                await asyncio.sleep(0)

        counter = asyncio.get_running_loop().create_task(count_turns())
        settings = await _poller.shared_settings("aep_default")
        poller = _poller.poller_for(settings)
        subscriptions = [poller.subscribe(run_id, 30.0) for run_id in run_ids]
        woke_in: Counter[int] = Counter()

        async def first_reading(subscription: _poller.Subscription) -> str:
            run = await subscription.next_reading()
            woke_in[turn] += 1
            return str(run["run_id"])

        try:
            seen = await asyncio.wait_for(asyncio.gather(*(first_reading(s) for s in subscriptions)), 30)
        finally:
            for subscription in subscriptions:
                subscription.close()
            stop.set()
            await counter
        return woke_in, seen

    woke_in, seen = asyncio.run(main())
    assert seen == run_ids
    assert sum(woke_in.values()) == RUNS
    assert max(woke_in.values()) <= _poller.DELIVERY_SLICE, woke_in
    assert len(woke_in) >= RUNS // _poller.DELIVERY_SLICE
