"""What the run measured: triggerer memory, the poller's calls per cycle, token requests per process."""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil
from processes import ProcessSet

#: Where ``e2e/diagnostics`` writes the callbacks that held the triggerer's loop (beside the process logs).
LOOP_LOG = "diagnostics-triggerer-loop.log"


class TriggererMemory:
    """Sample the RSS of the current triggerer (its process group: the job and the trigger runner) twice a second."""

    def __init__(self, procs: ProcessSet, interval: float = 0.5) -> None:
        self.procs = procs
        self.interval = interval
        self.peak_by_process: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_forever, name="triggerer-rss", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _sample_forever(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                triggerer = self.procs.latest("triggerer")
                root = psutil.Process(triggerer.pid)
                rss = sum(proc.memory_info().rss for proc in [root, *root.children(recursive=True)])
            except (KeyError, psutil.Error):
                continue
            self.samples += 1
            self.peak_by_process[triggerer.name] = max(self.peak_by_process.get(triggerer.name, 0), rss)

    def figures(self) -> dict[str, Any]:
        peaks = {name: round(rss / 2**20, 1) for name, rss in self.peak_by_process.items()}
        return {
            "peak_rss_mib": max(peaks.values(), default=None),
            "peak_rss_mib_by_process": peaks,
            "samples": self.samples,
        }


def status_batches(requests_log: Iterable[dict[str, Any]]) -> list[tuple[float, int]]:
    """``(timestamp, ids)`` of every ``GET /runs?property=id==a,b,...`` (the triggerer poller's batched read)."""
    batches = []
    for entry in requests_log:
        if entry["method"] != "GET" or not entry["path"].endswith("/runs"):
            continue
        for name, value in entry["params"]:
            if name == "property" and value.startswith("id=="):
                batches.append((float(entry["timestamp"]), len(value[4:].split(","))))
    return sorted(batches)


def poll_cycles(batches: list[tuple[float, int]], gap: float = 0.5) -> dict[str, Any]:
    """Group batched reads into poll cycles (reads less than ``gap`` seconds apart belong to one cycle)."""
    cycles: list[list[int]] = []
    last = -math.inf
    for timestamp, ids in batches:
        if timestamp - last > gap:
            cycles.append([])
        cycles[-1].append(ids)
        last = timestamp
    if not cycles:
        return {"cycles": 0}
    calls = [len(cycle) for cycle in cycles]
    runs = [sum(cycle) for cycle in cycles]
    return {
        "cycles": len(cycles),
        "calls_per_cycle_mean": round(sum(calls) / len(calls), 2),
        "calls_per_cycle_max": max(calls),
        "runs_read_per_cycle_max": max(runs),
        "runs_per_call_max": max(max(cycle) for cycle in cycles),
        "cycles_over_ceil_runs_per_100": sum(1 for c, r in zip(calls, runs, strict=True) if c > math.ceil(r / 100)),
    }


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        self.laps[name] = round(time.monotonic() - self.started, 1)

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 1)


def token_requests_by_client(requests_log: Iterable[dict[str, Any]]) -> dict[str, int]:
    """IMS token requests by HTTP client: ``requests`` (the sync hook: task processes) or ``aiohttp`` (triggers)."""
    clients: dict[str, int] = {}
    for entry in requests_log:
        if entry["method"] == "POST" and entry["path"].startswith("/ims/"):
            agent = entry["headers"].get("user-agent", "")
            client = "aiohttp" if "aiohttp" in agent else "requests" if "requests" in agent else agent or "unknown"
            clients[client] = clients.get(client, 0) + 1
    return clients


def task_processes(log_dir: Path) -> int:
    """Task processes that ran: each try, reschedule poke and resume from deferral is one supervised workload."""
    return sum(
        path.read_text(errors="replace").count("Workload finished")
        for pattern in ("scheduler-*.log", "celery-worker-*.log")
        for path in log_dir.glob(pattern)
    )


def loop_report(log_dir: Path) -> dict[str, Any]:
    """What ``e2e/diagnostics`` saw hold the triggerer's loop over 0.1 s: how often, how long, on the CPU or not."""
    path = log_dir / LOOP_LOG
    if not path.exists():
        return {"slow_callbacks": None}
    entries = []
    for line in path.read_text().splitlines():
        match = re.search(r"held=([\d.]+)s cpu=([\d.]+)s", line)
        if match:
            entries.append((float(match[1]), float(match[2]), line))
    if not entries:
        return {"slow_callbacks": 0}
    worst = max(entries)
    return {
        "slow_callbacks": len(entries),
        "max_held_s": worst[0],
        "cpu_share_of_held": round(sum(cpu for _, cpu, _ in entries) / sum(held for held, _, _ in entries), 2),
        "worst": worst[2][:300],
    }
