"""``make e2e``: the provider on a real Airflow deployment (PostgreSQL, scheduler, dag-processor,
triggerer, api-server), driven through the public REST API, with crash drills in the same run.

Usage: ``python e2e/driver.py [--executor local|celery] [--keep]``. Exits non-zero, naming every
failure, on a failed DAG run, a duplicate or missing ingestion, a gap or overlap in a flow's
window report, a drill that did not land, a missed deadline, a triggerer warning that its
event loop was blocked, or an event-triggered DAG that did not run once per run of the flow it
watches (see ``event_trigger.py``). Prints the figures and saves them with the logs under the run directory.

Environment: ``E2E_RUN_TIMEOUT`` (seconds for all DAG runs to end, default 480),
``E2E_MAX_TOKEN_REQUESTS`` (fail when the run's one credential asked IMS for more tokens than this;
default 1, the machine-wide token file; empty: report only),
``E2E_LOOP_DIAGNOSTICS=0`` (the triggerer runs without ``e2e/diagnostics``, which logs every
callback holding its event loop over 0.1 s, with wall and CPU time, to ``logs/diagnostics-triggerer-loop.log``),
``E2E_SCHEDULER_RESTART`` (``term``, the default: restart the scheduler with SIGTERM, a new one
starting while the old drains; ``kill``: SIGKILL its process group, its LocalExecutor tasks with it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from checks import Checks
from deployment import (
    ADMIN_USER,
    FILE_FLOW_ID,
    RECURRING_FLOW_ID,
    TABLE_FLOW_ID,
    TUTORIAL_FLOW_ID,
    Deployment,
    wait_until,
)
from drills import (
    DrillLog,
    kill_between_post_and_persist,
    kill_celery_worker,
    kill_sync_wait,
    kill_triggerer,
    restart_scheduler,
)
from emulator_admin import EmulatorAdmin
from event_trigger import EVENT_CONSUMER, RUN_DURATION, WINDOW_SENSOR, EventTriggerScenario
from figures import (
    LOOP_LOG,
    Stopwatch,
    TriggererMemory,
    loop_report,
    poll_cycles,
    status_batches,
    task_processes,
    token_requests_by_client,
)
from plan import ASSET_CONSUMER, PlannedRun, build_plan
from rest import AirflowRest

#: Run durations (s) per flow: long enough for the drill that needs it, short for the rest.
EMULATOR_CONFIG = {
    "run_duration": 10,  # the examples' flows: short runs make Airflow's deferral race (apache/airflow#71172) likelier
    "request_log_size": 100_000,
    "flows": {
        FILE_FLOW_ID: {"duration": 100},  # >= 100 of the 200 fan-out waits deferred at once
        TUTORIAL_FLOW_ID: {"duration": 30},  # the sync wait outlives the kill and the retry delay
        TABLE_FLOW_ID: {"duration": 8},  # a few reschedule pokes
        RECURRING_FLOW_ID: {"duration": RUN_DURATION},  # AEP's own runs, watched by the event trigger
    },
}
MIN_DEFERRED = 100
TERMINAL = {"success", "failed"}


class Interrupted(Exception):
    pass


def _on_signal(signum: int, _frame: Any) -> None:
    raise Interrupted(f"signal {signum}")


def say(message: str) -> None:
    print(f"==> [{time.strftime('%H:%M:%S')}] {message}", flush=True)


def trigger(rest: AirflowRest, run: PlannedRun) -> None:
    rest.trigger(run.dag_id, run.run_id, **run.body)


def wait_for_dag_runs(rest: AirflowRest, plan: dict[str, PlannedRun], timeout: float) -> dict[str, str]:
    states: dict[str, str] = {}

    def all_ended() -> bool:
        for run in plan.values():
            if states.get(run.dag_id) not in TERMINAL:
                states[run.dag_id] = rest.dag_run(run.dag_id, run.run_id)["state"]
        return all(state in TERMINAL for state in states.values())

    try:
        wait_until("every DAG run to end", all_ended, timeout, interval=2)
    except TimeoutError as error:
        open_runs = {dag_id: state for dag_id, state in states.items() if state not in TERMINAL}
        details = []
        for dag_id in open_runs:
            tis = rest.task_instances(dag_id, plan[dag_id].run_id)
            pending = [f"{ti['task_id']}[{ti['map_index']}]={ti['state']}" for ti in tis if ti["state"] != "success"]
            details.append(f"{dag_id}: {', '.join(pending[:8])}{' ...' if len(pending) > 8 else ''}")
        raise TimeoutError(f"{error}; still open: {open_runs}; " + "; ".join(details)) from None
    return states


def run_e2e(deployment: Deployment, figures: dict[str, Any], watch: Stopwatch) -> list[str]:
    """Bring everything up, drive the DAG runs and the drills, check; return the failures."""
    celery = deployment.executor == "celery"
    say(f"PostgreSQL on 127.0.0.1:{deployment.pg_port} (run dir {deployment.run_dir})")
    deployment.start_postgres()
    if celery:
        say(f"Redis on 127.0.0.1:{deployment.redis_port}")
        deployment.start_redis()
    connection = deployment.start_emulator()
    say(f"emulator on {deployment.emulator_url}")
    deployment.prepare_airflow(connection)
    say("airflow db migrate")
    deployment.migrate()
    watch.lap("migrated")
    triggerer_env = {}
    if os.environ.get("E2E_LOOP_DIAGNOSTICS", "1") == "1":
        triggerer_env = {
            "PYTHONPATH": str(Path(__file__).resolve().parent / "diagnostics"),
            "E2E_LOOP_LOG": str(deployment.run_dir / "logs" / LOOP_LOG),
        }
    deployment.start_component("api-server")
    deployment.start_component("scheduler")
    deployment.start_component("dag-processor")
    deployment.start_component("triggerer", triggerer_env)
    if celery:
        deployment.start_worker()
        deployment.start_worker()
    say(f"api-server on {deployment.api_url}: waiting for every component to be healthy")
    deployment.wait_api_healthy()
    watch.lap("healthy")

    rest = AirflowRest(deployment.api_url, ADMIN_USER, deployment.admin_password)
    emu = EmulatorAdmin(deployment.emulator_url)
    plan = build_plan(deployment.executor)
    expected = set(plan) | {ASSET_CONSUMER, EVENT_CONSUMER, WINDOW_SENSOR}

    def all_dags_serialized() -> bool:
        errors = rest.import_errors()
        if errors:
            raise AssertionError(f"DAG import errors: {errors}")
        return expected <= rest.dag_ids()

    wait_until(f"the dag-processor to serialize {sorted(expected)}", all_dags_serialized, timeout=180, interval=1)
    watch.lap("dags_parsed")
    memory = TriggererMemory(deployment.procs)
    memory.start()
    drills = DrillLog()
    for dag_id in [*plan, ASSET_CONSUMER]:
        rest.unpause(dag_id)
    event_trigger = EventTriggerScenario(deployment, rest, emu, drills)
    event_trigger.watch()

    say("drill post_kill: hold the answer of one POST /runs, kill the task waiting for it")
    emu.inject(kind="commit_then_delay", delay=90, max_count=1)
    post_kill = plan["e2e_post_kill"]
    trigger(rest, post_kill)
    ingestion = post_kill.ingestions[0]
    kill_between_post_and_persist(
        rest, emu, drills, dag_id=post_kill.dag_id, run_id=post_kill.run_id, task_id=ingestion.task_id,
        flow_id=ingestion.flow_id, window=ingestion.window,
    )  # fmt: skip
    say("triggering the example DAGs and the e2e DAGs")
    for run in plan.values():
        if run.dag_id not in ("e2e_post_kill", "e2e_worker_kill"):
            trigger(rest, run)
    watch.lap("triggered")

    say("drill sync_kill: kill a task process waiting in the worker")
    sync = plan["e2e_sync_reattach"]
    kill_sync_wait(
        rest, emu, drills, dag_id=sync.dag_id, run_id=sync.run_id, task_id="ingest_sync",
        flow_id=sync.ingestions[0].flow_id, window=sync.ingestions[0].window,
    )  # fmt: skip
    say(f"drill triggerer_kill: kill -9 the triggerer with >= {MIN_DEFERRED} waits deferred")
    kill_triggerer(
        deployment, rest, drills, dag_id="e2e_fan_out", run_id=plan["e2e_fan_out"].run_id, task_id="ingest",
        min_deferred=MIN_DEFERRED, env=triggerer_env,
    )  # fmt: skip
    watch.lap("triggerer_killed")
    # The two drills above check try 2 exactly: let them end before the scheduler restart resets anything.
    wait_for_dag_runs(rest, {dag_id: plan[dag_id] for dag_id in ("e2e_post_kill", "e2e_sync_reattach")}, 240)
    how = os.environ.get("E2E_SCHEDULER_RESTART", "term")
    say(f"drill scheduler_restart ({how}): stop the scheduler mid-run, start another")
    restart_scheduler(deployment, rest, drills, how=how)
    watch.lap("scheduler_restarted")
    if celery:
        say("drill worker_kill: kill -9 the Celery worker hosting a sync wait; the other carries on")
        worker_kill = plan["e2e_worker_kill"]
        trigger(rest, worker_kill)
        kill_celery_worker(
            deployment, rest, emu, drills, dag_id=worker_kill.dag_id, run_id=worker_kill.run_id,
            task_id=worker_kill.ingestions[0].task_id, flow_id=worker_kill.ingestions[0].flow_id,
            window=worker_kill.ingestions[0].window,
        )  # fmt: skip

    run_timeout = float(os.environ.get("E2E_RUN_TIMEOUT", "480"))
    say(f"waiting (at most {run_timeout:.0f} s) for every DAG run to end")
    states = wait_for_dag_runs(rest, plan, run_timeout)
    watch.lap("dag_runs_ended")
    # This deployment's scheduler runs with use_job_schedule off (manual runs only), which also stops
    # asset-triggered runs: with every planned DAG paused, a scheduler with it on creates the consumer's
    # run from the asset events queued while the producer ran, and no scheduled run of any example.
    say(f"{ASSET_CONSUMER}: pause the planned DAGs, restart the scheduler with use_job_schedule on")
    for dag_id in plan:
        rest.pause(dag_id)
    old_scheduler = deployment.procs.latest("scheduler")
    deployment.procs.kill(old_scheduler, signal.SIGTERM, group=False)
    deployment.procs.wait_exit(old_scheduler, 60)
    deployment.start_component("scheduler", {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True"})
    say(f"{EVENT_CONSUMER}: the recurring flow runs on its own schedule; kill -9 the triggerer mid-run")
    event_trigger.run(triggerer_env)
    watch.lap("event_trigger")
    say(f"waiting for {ASSET_CONSUMER}, scheduled on the assets example_aep_assets updated")
    consumer_runs = f"/dags/{ASSET_CONSUMER}/dagRuns"
    wait_until(
        f"{ASSET_CONSUMER} to run and end",
        lambda: any(run["state"] in TERMINAL for run in rest.paged(consumer_runs, "dag_runs")),
        timeout=120,
        interval=2,
    )
    memory.stop()

    say("checking outcomes")
    checks = Checks(rest, emu, plan, deployment.airflow_home / "logs")
    tis_by_run = checks.attempt("DAG runs", checks.dag_runs, {})
    summaries = checks.attempt("flow_run summaries", checks.summaries, {})
    window_figures = checks.attempt("windows", lambda: checks.windows(summaries), {})
    checks.attempt("drill post_kill", lambda: checks.took_over(drills, "post_kill", "e2e_post_kill", "adopted"), None)
    checks.attempt(
        "drill sync_kill", lambda: checks.took_over(drills, "sync_kill", "e2e_sync_reattach", "reattached"), None
    )
    consumer_runs_seen = checks.attempt("asset consumer", lambda: checks.asset_consumer(summaries, ASSET_CONSUMER), 0)
    event_figures = checks.attempt("event trigger", lambda: event_trigger.check(checks.fail), {})
    blocked = checks.attempt("triggerer logs", lambda: checks.triggerer_logs(deployment.run_dir / "logs"), [])

    stats = emu.stats()
    requests_log = emu.requests(limit=100_000)
    batches = status_batches(requests_log)
    log_dir = deployment.run_dir / "logs"
    task_count = sum(len(tis) for tis in tis_by_run.values())
    tries = sum(int(ti["try_number"]) for tis in tis_by_run.values() for ti in tis)
    token_requests = int(stats["token_requests"])
    figures.update(
        executor=deployment.executor,
        dag_runs={dag_id: state for dag_id, state in states.items()},
        dag_run_count=len(states),
        task_instances=task_count,
        task_tries=tries,
        fan_out_width=len(plan["e2e_fan_out"].ingestions),
        asset_consumer_runs=consumer_runs_seen,
        event_trigger=event_figures,
        **window_figures,
        drills=drills.events,
        restarts_survived={"triggerer": 2, "scheduler": 1, "task_process_kills": 2, "worker_kills": int(celery)},
        ims_token_requests=token_requests,
        token_requests_per_credential=token_requests,
        token_requests_by_client=token_requests_by_client(requests_log),
        task_processes=task_processes(log_dir),
        triggerer_processes=len(list(log_dir.glob("triggerer-*.log"))),
        flow_service_requests=stats["total_requests"] - token_requests,
        requests_by_route=stats["requests_by_route"],
        triggerer_poll=poll_cycles(batches) | {"batched_reads": len(batches)},
        triggerer_memory=memory.figures(),
        triggerer_blocked_warnings=len(blocked),
        triggerer_loop=loop_report(log_dir),
    )
    limit = os.environ.get("E2E_MAX_TOKEN_REQUESTS", "1")
    if limit != "" and token_requests > int(limit):
        checks.fail(f"{token_requests} IMS token requests for one credential (at most {limit} allowed)")
    return checks.failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executor", choices=("local", "celery"), default="local")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL cluster when everything passed")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    run_dir = Path(os.environ.get("E2E_RUN_DIR") or tempfile.mkdtemp(prefix=f"aep-e2e-{args.executor}-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    deployment = Deployment(run_dir, args.executor, EMULATOR_CONFIG)
    watch = Stopwatch()
    figures: dict[str, Any] = {}
    failures: list[str] = []
    try:
        failures = run_e2e(deployment, figures, watch)
    except (Exception, Interrupted, KeyboardInterrupt) as error:
        traceback.print_exc()
        failures.append(f"{type(error).__name__}: {error}")
    finally:
        say("stopping every process the e2e started")
        for line in deployment.stop():
            print(f"    {line}", flush=True)
    figures["wall_seconds"] = watch.elapsed()
    figures["phases_seconds"] = watch.laps
    figures["failures"] = failures
    (run_dir / "figures.json").write_text(json.dumps(figures, indent=2, default=str))
    print(json.dumps({key: value for key, value in figures.items() if key not in ("drills", "requests_by_route")},
                     indent=2, default=str))  # fmt: skip
    say(f"figures: {run_dir / 'figures.json'}; logs: {run_dir / 'logs'}")
    if failures:
        say(f"e2e FAILED ({len(failures)}):")
        for failure in failures:
            print(f"  - {failure}", flush=True)
        return 1
    if not args.keep:
        shutil.rmtree(run_dir / "pgdata", ignore_errors=True)
    say(f"e2e passed in {figures['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
