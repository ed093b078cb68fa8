"""What do N tasks waiting for windows of one flow cost the triggerer?

N ``AdobeFlowWindowTrigger`` instances wait in one event loop, each for a different window of one
flow that AEP runs hourly (the emulator holds ``--hours`` runs of it): wait k for the last k hours,
the last hour missing at first, so that every wait waits for ``--cycles`` poll cycles; then the
missing hour lands and every wait ends. Beside it, in the same run, a baseline: the same N
waits, each listing the flow on its own every poll interval (what N poke-mode sensors, or triggers
without a shared poller, would do), judged by the same rules. Prints both side by side; it measures
and asserts nothing.

    python benchmarks/window_waiters.py                 # N=200 waits over 300 hourly runs, poll 2 s

- listing calls: ``GET /runs?property=flowId==...`` pages the emulator answered, per poll cycle;
- CPU: this process's CPU time over the wait, per poll cycle (the emulator serves from a thread of
  this process: its share is in it);
- detection: from the missing run's completion to the last wait ending.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

HOUR = 3600


async def shared_poller_waits(windows: list[tuple[int, int]], flow_id: str, interval: float) -> None:
    """The product: every wait is an :class:`AdobeFlowWindowTrigger`, sharing the connection's FlowPoller."""
    from airflow_flowrun.triggers.flow_window import AdobeFlowWindowTrigger

    async def wait(start: int, end: int) -> None:
        async for event in AdobeFlowWindowTrigger(flow_id, start, end, poll_interval=interval).run():
            assert event.payload["status"] == "success", event.payload

    await asyncio.gather(*(wait(start, end) for start, end in windows))


async def listing_per_wait(windows: list[tuple[int, int]], flow_id: str, interval: float) -> None:
    """The baseline: each wait lists the flow itself every interval, on one shared hook and token."""
    from airflow_flowrun.hooks.flow_service_async import AdobeFlowServiceAsyncHook
    from airflow_flowrun.window_wait import judge_window

    async with AdobeFlowServiceAsyncHook() as hook:

        async def wait(start: int, end: int) -> None:
            while True:
                runs = [run async for run in hook.list_runs(flow_id)]
                if judge_window(runs, flow_id, start, end).state == "success":
                    return
                await asyncio.sleep(interval)

        await asyncio.gather(*(wait(start, end) for start, end in windows))


def measure(waits: Any, emu: Any, flow_id: str, args: argparse.Namespace) -> dict[str, float]:
    """Reset the flow's runs, start the N waits, land the missing hour after a few cycles; the figures."""
    emu.reset()
    base = (int(time.time()) // HOUR - args.hours - 1) * HOUR
    hours = [(base + hour * HOUR, base + (hour + 1) * HOUR) for hour in range(args.hours)]
    for start, end in hours[:-1]:
        emu.add_run(flow_id, window_start=start, window_end=end, created_at=end, duration=0)
    windows = [(hours[-k][0], hours[-1][1]) for k in range(1, args.n + 1)]
    landed: dict[str, float] = {}

    async def scenario() -> None:
        waiting = asyncio.ensure_future(waits(windows, flow_id, args.interval))
        await asyncio.sleep(args.cycles * args.interval)  # every wait is still waiting for the last hour
        landed["at"] = time.time()
        emu.add_run(flow_id, window_start=hours[-1][0], window_end=hours[-1][1], duration=0)
        await waiting

    requests_before, cpu_before, started = len(emu.requests), time.process_time(), time.monotonic()
    asyncio.run(scenario())
    waited, cpu = time.monotonic() - started, time.process_time() - cpu_before
    listings = [r for r in emu.requests[requests_before:] if r.method == "GET" and r.path.endswith("/runs")]
    cycles = max(waited / args.interval, 1.0)
    return {
        "listing pages per cycle": len(listings) / cycles,
        "CPU ms per cycle (+emulator)": 1000 * cpu / cycles,
        "detection s": time.time() - landed["at"],
        "wall s": waited,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="waiting tasks, each for another window")
    parser.add_argument("--hours", type=int, default=300, help="hourly runs the flow has")
    parser.add_argument("--interval", type=float, default=2.0, help="poll interval, seconds")
    parser.add_argument("--cycles", type=int, default=5, help="poll cycles before the missing hour lands")
    args = parser.parse_args()
    os.environ.setdefault("AIRFLOW__AEP_FLOWRUN__TOKEN_CACHE", "process")

    from airflow_flowrun.emulator import FILE_FLOW_ID, FlowServiceEmulator

    with FlowServiceEmulator(run_duration=0, request_log_size=1_000_000) as emu:
        os.environ["AIRFLOW_CONN_AEP_DEFAULT"] = emu.connection
        ours = measure(shared_poller_waits, emu, FILE_FLOW_ID, args)
        baseline = measure(listing_per_wait, emu, FILE_FLOW_ID, args)
    print(f"{args.n} waits for hours of one flow with {args.hours} runs, poll {args.interval:g} s")
    print(f"{'':30}{'shared FlowPoller':>20}{'listing per wait':>20}")
    for figure in ours:
        print(f"{figure:30}{ours[figure]:>20.2f}{baseline[figure]:>20.2f}")
    ratio = ours["listing pages per cycle"] / max(baseline["listing pages per cycle"], 1e-9)
    print(f"window_waiters_listings_vs_per_wait: {ratio:.3f}")


if __name__ == "__main__":
    main()
