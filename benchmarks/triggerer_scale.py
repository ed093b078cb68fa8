"""How cheap is waiting for thousands of flow runs in one triggerer?

Runs N ``AdobeFlowRunTrigger`` instances to completion in one event loop against the emulator (served
by another process), then, in the same benchmark, a floor: a bare aiohttp loop with one shared token
and one session doing only ``GET /runs/{id}`` per run per poll. Prints both side by side; the last
line is ``trigger_cpu_per_poll_vs_floor: <ratio>``. It measures and prints, it asserts nothing.

    python benchmarks/triggerer_scale.py              # N=5000, poll 5 s, runs of 20 s: about 2 minutes
    python benchmarks/triggerer_scale.py --n 500

Each side waits in a fresh Python process (so CPU time and RSS growth are its own), after the
orchestrating process has reset the emulator and created the N runs (with a token of its own: the
token requests counted are those of the waiting side only).

- token requests, status calls: the emulator's ``/_emulator/stats`` before and after the wait;
- status calls per poll cycle: for the trigger, counted per poll-grid cycle on the client; for the
  floor (which is not on a grid), status calls / (wait time / poll interval), so its cycle count
  is fractional;
- connection lookups: calls of ``AdobeFlowServiceAsyncHook.aget_connection``;
- CPU ms per run status read: process CPU time of the wait / run statuses delivered;
- RSS growth per trigger: (highest VmRSS during the wait - VmRSS before creating the triggers) / N;
- completion latency: time the event (or the floor's read) saw the end - the run's ``completedAtUTC``.

The floor keeps at most ``--floor-concurrency`` GETs in flight and staggers its runs evenly over
the first poll interval, so that its N single reads per cycle reach the emulator as a steady stream
rather than in bursts it would queue.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

FLOW_SERVICE = "/data/foundation/flowservice"
STATUS_ROUTES = ("GET /runs", "GET /runs/{runId}")
CREATE_CONCURRENCY = 50


def main() -> None:
    args = _parser().parse_args()
    if args.phase:
        result = asyncio.run(WAITERS[args.phase](json.loads(Path(args.runs_file).read_text()), args))
        Path(args.result_file).write_text(json.dumps(result))
        return
    orchestrate(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="concurrent waits (default 5000)")
    parser.add_argument("--poll-interval", type=float, default=5.0, help="seconds between polls (default 5)")
    parser.add_argument("--run-duration", type=float, default=20.0, help="seconds a run lasts (default 20)")
    parser.add_argument("--floor-concurrency", type=int, default=50, help="floor's GETs in flight at most")
    parser.add_argument("--phase", choices=["trigger", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--runs-file", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    return parser


# -- orchestration ---------------------------------------------------------------------------------


def orchestrate(args: argparse.Namespace) -> None:
    port = _free_port()
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_flowrun.emulator",
            "--port",
            str(port),
            "--run-duration",
            str(args.run_duration),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        first_line = emulator.stdout.readline()
        connection = first_line.split("=", 1)[1].strip().strip("'")
        print(
            f"triggerer_scale: N={args.n} poll_interval={args.poll_interval}s run_duration={args.run_duration}s "
            f"(emulator pid {emulator.pid} on port {port}, {os.cpu_count()} cores)",
            flush=True,
        )
        with tempfile.TemporaryDirectory(prefix="triggerer-scale-") as workdir:
            results = {phase: run_phase(phase, connection, args, Path(workdir)) for phase in ("trigger", "floor")}
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    report(results, args)


def run_phase(phase: str, connection: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    started = time.monotonic()
    run_ids = asyncio.run(create_runs(json.loads(connection), args.n))
    runs_file, result_file = workdir / f"{phase}-runs.json", workdir / f"{phase}-result.json"
    runs_file.write_text(json.dumps(run_ids))
    env = {
        **os.environ,
        "AIRFLOW_CONN_AEP_DEFAULT": connection,
        "AIRFLOW_HOME": str(workdir / "airflow-home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    command = [sys.executable, __file__, "--phase", phase, "--runs-file", str(runs_file)]
    command += ["--result-file", str(result_file), "--poll-interval", str(args.poll_interval)]
    command += ["--floor-concurrency", str(args.floor_concurrency)]
    with open(workdir / f"{phase}.log", "w") as log:
        subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    result = json.loads(result_file.read_text())
    result["phase_seconds"] = time.monotonic() - started
    print(f"  {phase}: done in {result['phase_seconds']:.0f} s", flush=True)
    return result


async def create_runs(connection: dict[str, Any], count: int) -> list[str]:
    """Reset the emulator and create ``count`` runs of its file flow, in parallel."""
    import aiohttp

    from airflow_flowrun.emulator.seeds import FILE_FLOW_ID

    base = connection["host"]
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/_emulator/reset") as answer:
            answer.raise_for_status()
        headers = await _platform_headers(session, connection)
        window_end = int(time.time()) - 3600
        body = {
            "flowId": FILE_FLOW_ID,
            "params": {
                "startTime": int(time.time()),
                "windowStartTime": window_end - 3600,
                "windowEndTime": window_end,
            },
        }
        slots = asyncio.Semaphore(CREATE_CONCURRENCY)

        async def create() -> str:
            async with slots, session.post(f"{base}{FLOW_SERVICE}/runs", json=body, headers=headers) as answer:
                answer.raise_for_status()
                return (await answer.json())["items"][0]["id"]

        return await asyncio.gather(*(create() for _ in range(count)))


async def _platform_headers(session: Any, connection: dict[str, Any]) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": connection["login"],
        "client_secret": connection["password"],
        "scope": "openid,AdobeID",
    }
    async with session.post(connection["extra"]["ims_token_url"], data=form) as answer:
        answer.raise_for_status()
        token = (await answer.json())["access_token"]
    return {
        "Authorization": f"Bearer {token}",
        "x-api-key": connection["login"],
        "x-gw-ims-org-id": connection["extra"]["org_id"],
        "x-sandbox-name": connection["extra"].get("sandbox_name", "prod"),
        "Accept": "application/json",
    }


# -- the two waiting sides (each in its own process) ---------------------------------------------


async def wait_with_triggers(run_ids: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """N AdobeFlowRunTrigger instances in this event loop, as a triggerer runs them."""
    from airflow_flowrun.hooks.flow_service_async import AdobeFlowServiceAsyncHook
    from airflow_flowrun.triggers import _poller
    from airflow_flowrun.triggers.flow_run import AdobeFlowRunTrigger

    interval = args.poll_interval
    loop = asyncio.get_running_loop()
    counts = {"lookups": 0, "reads": 0}
    calls_per_cycle: dict[int, int] = {}

    lookup = AdobeFlowServiceAsyncHook.aget_connection.__func__  # type: ignore[attr-defined]
    get_runs, get_run = AdobeFlowServiceAsyncHook.get_runs, AdobeFlowServiceAsyncHook.get_run
    deliver = _poller.Subscription.deliver

    async def counted_lookup(cls: Any, conn_id: str) -> Any:
        counts["lookups"] += 1
        return await lookup(cls, conn_id)

    def count_call() -> None:
        cycle = math.floor(loop.time() / interval)
        calls_per_cycle[cycle] = calls_per_cycle.get(cycle, 0) + 1

    async def counted_get_runs(self: Any, ids: list[str]) -> Any:
        count_call()
        return await get_runs(self, ids)

    async def counted_get_run(self: Any, run_id: str) -> Any:
        count_call()
        return await get_run(self, run_id)

    def counted_deliver(self: Any, reading: Any) -> None:
        counts["reads"] += 1
        deliver(self, reading)

    AdobeFlowServiceAsyncHook.aget_connection = classmethod(counted_lookup)  # type: ignore[method-assign,assignment]
    AdobeFlowServiceAsyncHook.get_runs = counted_get_runs  # type: ignore[method-assign,assignment]
    AdobeFlowServiceAsyncHook.get_run = counted_get_run  # type: ignore[method-assign]
    _poller.Subscription.deliver = counted_deliver  # type: ignore[method-assign]

    async def wait(trigger: AdobeFlowRunTrigger) -> tuple[float, dict[str, Any]]:
        async for event in trigger.run():
            return time.time(), event.payload
        raise RuntimeError("no event")

    async with _Measure(run_ids) as measure:
        triggers = [AdobeFlowRunTrigger(run_id, poll_interval=interval) for run_id in run_ids]
        outcomes = await asyncio.gather(*(wait(trigger) for trigger in triggers))
    cycles = sorted(calls_per_cycle.values())
    return measure.result(
        outcomes=[
            (seen, payload["status"], (payload["flow_run"] or {}).get("completed_at")) for seen, payload in outcomes
        ],
        reads=counts["reads"],
        lookups=counts["lookups"],
        cycles=len(cycles),
        max_calls_per_cycle=cycles[-1] if cycles else 0,
    )


async def wait_with_floor(run_ids: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """The floor: one session, one token, one ``GET /runs/{id}`` per run per poll, nothing else."""
    import aiohttp
    from airflow.sdk import BaseHook

    from airflow_flowrun.connection import AepConnectionSettings
    from airflow_flowrun.status import RunStatus

    interval = args.poll_interval
    reads = 0
    async with _Measure(run_ids) as measure:
        conn = await BaseHook.aget_connection("aep_default")
        settings = AepConnectionSettings.from_connection(conn, await conn.aextra_dejson())
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.floor_concurrency)) as session:
            async with session.post(settings.ims_token_url, data=settings.token_form()) as answer:
                token = (await answer.json())["access_token"]
            headers = {**settings.platform_headers(), "Authorization": f"Bearer {token}"}
            runs_url = f"{settings.flow_service_url}/runs/"

            async def wait(run_id: str, offset: float) -> tuple[float, str, str | None]:
                nonlocal reads
                await asyncio.sleep(offset)
                while True:
                    async with session.get(runs_url + run_id, headers=headers) as answer:
                        status, completed = _status_and_end(await answer.read())
                    reads += 1
                    if status.is_terminal():
                        return time.time(), status.value, completed
                    await asyncio.sleep(interval)

            def _status_and_end(body: bytes) -> tuple[RunStatus, str | None]:
                # A function of its own so that no waiting coroutine keeps a parsed run alive.
                run = json.loads(body)["items"][0]
                completed = run["metrics"]["durationSummary"].get("completedAtUTC")
                return RunStatus.of_run(run), None if completed is None else _iso(completed / 1000)

            step = interval / len(run_ids)
            outcomes = await asyncio.gather(*(wait(run_id, i * step) for i, run_id in enumerate(run_ids)))
    wait_seconds = measure.wall
    return measure.result(
        outcomes=list(outcomes),
        reads=reads,
        lookups=1,
        cycles=wait_seconds / interval,
        max_calls_per_cycle=None,
    )


WAITERS = {"trigger": wait_with_triggers, "floor": wait_with_floor}


class _Measure:
    """CPU, wall time, peak RSS and the emulator's counters around one waiting phase."""

    def __init__(self, run_ids: list[str]) -> None:
        self.run_ids = run_ids
        connection = json.loads(os.environ["AIRFLOW_CONN_AEP_DEFAULT"])
        self.stats_url = f"{connection['host']}/_emulator/stats"
        self.peak_rss_kb = 0
        self.wall = 0.0

    async def __aenter__(self) -> _Measure:
        self.gc_pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self.wall_before = time.monotonic()
        self.full_at: list[float] = []
        gc.callbacks.append(self._time_gc)
        self.stats_before = await self._stats()
        self.rss_before_kb = _vm_rss_kb()
        self._sampler = asyncio.get_running_loop().create_task(self._sample_rss())
        self.cpu_before, self.wall_before = time.process_time(), time.monotonic()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.cpu = time.process_time() - self.cpu_before
        self.wall = time.monotonic() - self.wall_before
        gc.callbacks.remove(self._time_gc)
        self._sampler.cancel()
        self.peak_rss_kb = max(self.peak_rss_kb, _vm_rss_kb())
        self.stats_after = await self._stats()

    def _time_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_pauses[info["generation"]].append(time.perf_counter() - self._gc_started)
            if info["generation"] == 2:
                self.full_at.append(round(time.monotonic() - self.wall_before, 1))

    async def _sample_rss(self) -> None:
        while True:
            self.peak_rss_kb = max(self.peak_rss_kb, _vm_rss_kb())
            await asyncio.sleep(0.25)

    async def _stats(self) -> dict[str, Any]:
        import aiohttp

        async with aiohttp.ClientSession() as session, session.get(self.stats_url) as answer:
            return await answer.json()

    def result(self, *, outcomes: list[Any], reads: int, lookups: int, cycles: float, max_calls_per_cycle: Any) -> dict:
        before, after = self.stats_before, self.stats_after
        routes_before, routes_after = before["requests_by_route"], after["requests_by_route"]
        status_calls = sum(routes_after.get(route, 0) - routes_before.get(route, 0) for route in STATUS_ROUTES)
        latencies = sorted(seen - _epoch(completed) for seen, _, completed in outcomes if completed)
        return {
            "n": len(self.run_ids),
            "statuses": sorted({status for _, status, _ in outcomes}),
            "token_requests": after["token_requests"] - before["token_requests"],
            "connection_lookups": lookups,
            "status_calls": status_calls,
            "cycles": cycles,
            "calls_per_cycle": status_calls / cycles,
            "max_calls_per_cycle": max_calls_per_cycle,
            "reads": reads,
            "cpu_ms": self.cpu * 1000,
            "cpu_ms_per_read": self.cpu * 1000 / max(reads, 1),
            "rss_kb_per_waiter": (self.peak_rss_kb - self.rss_before_kb) / len(self.run_ids),
            "latency_p50": _quantile(latencies, 0.50),
            "latency_p99": _quantile(latencies, 0.99),
            "wait_seconds": self.wall,
            "tracked_objects": len(gc.get_objects()),
            "full_collections": len(self.gc_pauses[2]),
            "full_collections_at_s": self.full_at,
            "full_collection_max_ms": max(self.gc_pauses[2], default=0.0) * 1000,
            "young_collections": len(self.gc_pauses[0]) + len(self.gc_pauses[1]),
        }


# -- output and helpers ----------------------------------------------------------------------------


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    trigger, floor = results["trigger"], results["floor"]
    rows = [
        ("outcomes", lambda r: ",".join(r["statuses"])),
        ("token requests", lambda r: str(r["token_requests"])),
        ("connection lookups", lambda r: str(r["connection_lookups"])),
        ("status HTTP calls, total", lambda r: str(r["status_calls"])),
        ("poll cycles", lambda r: f"{r['cycles']:.1f}"),
        ("status HTTP calls per poll cycle, mean", lambda r: f"{r['calls_per_cycle']:.1f}"),
        ("status HTTP calls per poll cycle, max", lambda r: _shown(r["max_calls_per_cycle"])),
        (f"  target: <= ceil(N/100) = {math.ceil(args.n / 100)}", lambda r: ""),
        ("run status reads delivered", lambda r: str(r["reads"])),
        ("CPU ms, whole wait", lambda r: f"{r['cpu_ms']:.0f}"),
        ("CPU ms per run status read", lambda r: f"{r['cpu_ms_per_read']:.4f}"),
        ("RSS growth per waiter, KB", lambda r: f"{r['rss_kb_per_waiter']:.2f}"),
        ("completion latency p50, s", lambda r: f"{r['latency_p50']:.2f}"),
        ("completion latency p99, s", lambda r: f"{r['latency_p99']:.2f}"),
        (f"  target p99: <= poll interval + 1 = {args.poll_interval + 1:.1f}", lambda r: ""),
        ("wait phase wall time, s", lambda r: f"{r['wait_seconds']:.1f}"),
        ("objects tracked by the GC at the end", lambda r: str(r["tracked_objects"])),
        ("young collections (gen 0 and 1)", lambda r: str(r["young_collections"])),
        ("full collections (gen 2)", lambda r: str(r["full_collections"])),
        ("longest full collection, ms", lambda r: f"{r['full_collection_max_ms']:.0f}"),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"{'':<{width}}  {'trigger':>12}  {'floor':>12}")
    for label, cell in rows:
        print(f"{label:<{width}}  {cell(trigger):>12}  {cell(floor):>12}")
    print(
        f"floor: one GET /runs/{{id}} per run per poll, at most {args.floor_concurrency} in flight, "
        f"runs staggered evenly over the first {args.poll_interval} s"
    )
    ratio = trigger["cpu_ms_per_read"] / floor["cpu_ms_per_read"]
    print(f"trigger_cpu_per_poll_vs_floor: {ratio:.3f}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _vm_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    return values[min(len(values) - 1, math.ceil(q * len(values)) - 1)]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().isoformat()


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _shown(value: Any) -> str:
    return "-" if value is None else str(value)


if __name__ == "__main__":
    main()
