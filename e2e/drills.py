"""The crash drills: each kills something real at the moment it matters, and records what it did.

The checks of what the drill must have left behind (one run per window, the try that took over)
run at the end, with everything else, in :mod:`checks`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
from deployment import Deployment, wait_until
from emulator_admin import EmulatorAdmin, run_window
from rest import AirflowRest


@dataclass
class DrillLog:
    """What the drills did, for the checks and the figures."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, drill: str, **facts: Any) -> dict[str, Any]:
        event = {"drill": drill, "at": time.time(), **facts}
        self.events.append(event)
        print(f"    drill {drill}: " + ", ".join(f"{key}={value}" for key, value in facts.items()), flush=True)
        return event

    def of(self, drill: str) -> dict[str, Any]:
        for event in self.events:
            if event["drill"] == drill:
                return event
        raise KeyError(f"drill {drill} did not run")


def _running_with_pid(rest: AirflowRest, dag_id: str, run_id: str, task_id: str) -> dict[str, Any] | None:
    ti = rest.task_instance(dag_id, run_id, task_id)
    if ti["state"] == "running" and ti.get("pid"):
        return ti
    return None


def _runs_of_window(emu: EmulatorAdmin, flow_id: str, window: tuple[int, int]) -> list[dict[str, Any]]:
    return [run for run in emu.runs(flow_id) if run_window(run) == window]


def _stored_and_in_progress(
    rest: AirflowRest, emu: EmulatorAdmin, dag_id: str, run_id: str, task_id: str, flow_id: str,
    window: tuple[int, int],
) -> dict[str, Any] | None:  # fmt: skip
    """The running try with its pid and flow run id, once that id is stored and the run is in progress."""
    ti = _running_with_pid(rest, dag_id, run_id, task_id)
    runs = _runs_of_window(emu, flow_id, window)
    if ti is None or len(runs) != 1 or runs[0]["metrics"]["statusSummary"]["status"] != "inProgress":
        return None
    try:  # the operator pushes return_value right after the run id reached task_state_store
        flow_run_id = rest.xcom(dag_id, run_id, task_id, "return_value")
    except RuntimeError:
        return None
    return {**ti, "flow_run_id": flow_run_id}


def kill_between_post_and_persist(
    rest: AirflowRest, emu: EmulatorAdmin, log: DrillLog, *, dag_id: str, run_id: str, task_id: str,
    flow_id: str, window: tuple[int, int], timeout: float = 180,
) -> None:  # fmt: skip
    """SIGKILL the task process while the emulator holds its ``POST /runs`` answer (the run exists, its id is nowhere).

    The caller has injected a ``commit_then_delay`` fault for this POST before triggering the DAG run.
    """
    runs = wait_until(
        f"the held POST /runs of {dag_id} to create its run",
        lambda: _runs_of_window(emu, flow_id, window),
        timeout,
    )
    ti = wait_until(
        f"{dag_id}.{task_id} to run with a pid", lambda: _running_with_pid(rest, dag_id, run_id, task_id), timeout
    )
    held = [rule for rule in emu.faults() if rule["kind"] == "commit_then_delay"]
    if not held or held[0]["injected"] != 1:
        raise AssertionError(f"drill post_kill: the commit_then_delay fault did not hold exactly one POST: {held}")
    os.kill(ti["pid"], signal.SIGKILL)
    log.add("post_kill", pid=ti["pid"], try_number=ti["try_number"], run_id=runs[0]["id"], runs_at_kill=len(runs))


def kill_sync_wait(
    rest: AirflowRest, emu: EmulatorAdmin, log: DrillLog, *, dag_id: str, run_id: str, task_id: str,
    flow_id: str, window: tuple[int, int], timeout: float = 180,
) -> None:  # fmt: skip
    """SIGKILL a task process waiting in the worker, once its run id is stored and the run is in progress."""
    ti = wait_until(
        f"{dag_id}.{task_id} to wait in the worker on a stored run",
        lambda: _stored_and_in_progress(rest, emu, dag_id, run_id, task_id, flow_id, window),
        timeout,
    )
    time.sleep(2.5)  # at least one status read of the wait (poll_interval 2 s)
    os.kill(ti["pid"], signal.SIGKILL)
    log.add("sync_kill", pid=ti["pid"], try_number=ti["try_number"], run_id=ti["flow_run_id"])


def kill_triggerer(
    deployment: Deployment, rest: AirflowRest, log: DrillLog, *, dag_id: str, run_id: str, task_id: str,
    min_deferred: int, timeout: float = 300, env: dict[str, str] | None = None,
) -> None:  # fmt: skip
    """SIGKILL the triggerer (its whole process group) once ``min_deferred`` waits are deferred; start another."""
    peak = {"deferred": 0}

    def enough_deferred() -> int | None:
        deferred = rest.count_task_instances("deferred", dag_id, run_id, task_id=task_id)
        peak["deferred"] = max(peak["deferred"], deferred)
        if deferred < min_deferred and rest.count_task_instances("success", dag_id, run_id, task_id=task_id) > 0:
            raise AssertionError(
                f"drill triggerer_kill: waits started ending before {min_deferred} were deferred "
                f"(peak {peak['deferred']}): give the file flow a longer run duration"
            )
        return deferred if deferred >= min_deferred else None

    deferred = wait_until(f"{min_deferred} deferred waits in {dag_id}", enough_deferred, timeout, interval=1)
    old = deployment.procs.latest("triggerer")
    deployment.procs.kill(old, signal.SIGKILL)
    if not deployment.procs.wait_exit(old, 30):
        raise AssertionError(f"drill triggerer_kill: {old.name} (pid {old.pid}) survived SIGKILL")
    killed_at = time.time()
    new = deployment.start_component("triggerer", env)
    log.add("triggerer_kill", pid=old.pid, deferred_at_kill=deferred, new_pid=new.pid, killed_at=killed_at)


def restart_scheduler(deployment: Deployment, rest: AirflowRest, log: DrillLog, *, how: str = "kill") -> None:
    """Restart the scheduler while DAG runs are in flight.

    ``how="kill"``: SIGKILL its process group (the scheduler and, with LocalExecutor, the task
    processes it runs: a scheduler host dying), then start a new one. ``how="term"``: SIGTERM the
    scheduler alone and start a new one at once, while the old one drains its running tasks (a
    rolling restart).
    """
    running = rest.get("/dags/~/dagRuns", state="running", limit=1)["total_entries"]
    if not running:
        raise AssertionError("drill scheduler_restart: no DAG run is in flight any more")
    old = deployment.procs.latest("scheduler")
    if how == "kill":
        deployment.procs.kill(old, signal.SIGKILL)
        if not deployment.procs.wait_exit(old, 30):
            raise AssertionError(f"drill scheduler_restart: {old.name} (pid {old.pid}) survived SIGKILL")
    else:
        deployment.procs.kill(old, signal.SIGTERM, group=False)
    running_tis = rest.count_task_instances("running")
    new = deployment.start_component("scheduler")
    log.add(
        "scheduler_restart", how=how, pid=old.pid, new_pid=new.pid, dag_runs_in_flight=running,
        tasks_running=running_tis,
    )  # fmt: skip


def kill_celery_worker(
    deployment: Deployment, rest: AirflowRest, emu: EmulatorAdmin, log: DrillLog, *, dag_id: str, run_id: str,
    task_id: str, flow_id: str, window: tuple[int, int], timeout: float = 180,
) -> None:  # fmt: skip
    """SIGKILL the whole Celery worker whose task process waits (sync mode) on a stored, running flow run."""
    ti = wait_until(
        f"{dag_id}.{task_id} to wait in a worker on a stored run",
        lambda: _stored_and_in_progress(rest, emu, dag_id, run_id, task_id, flow_id, window),
        timeout,
    )
    time.sleep(2.5)
    workers = [p for p in deployment.procs.processes if p.name.startswith("celery-worker-") and p.alive()]
    # The task runner starts a session of its own, so the worker is found among its ancestors.
    ancestors = {parent.pid for parent in psutil.Process(ti["pid"]).parents()}
    hosting = [worker for worker in workers if worker.pid in ancestors]
    if len(hosting) != 1 or len(workers) < 2:
        names = [(worker.name, worker.pid) for worker in workers]
        raise AssertionError(
            f"drill worker_kill: task pid {ti['pid']} has ancestors {sorted(ancestors)}; workers {names}"
        )
    # As when the worker's machine dies: the worker, its pool and the task processes in their own sessions.
    descendants = psutil.Process(hosting[0].pid).children(recursive=True)
    deployment.procs.kill(hosting[0], signal.SIGKILL)
    for process in descendants:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    if not deployment.procs.wait_exit(hosting[0], 30):
        raise AssertionError(f"drill worker_kill: {hosting[0].name} survived SIGKILL")
    others = [worker.name for worker in workers if worker is not hosting[0]]
    log.add("worker_kill", worker=hosting[0].name, pid=hosting[0].pid, run_id=ti["flow_run_id"], carrying_on=others)
