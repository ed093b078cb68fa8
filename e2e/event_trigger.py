"""The event trigger on the deployment: ``e2e_event_trigger`` is scheduled on an asset watched by
``AdobeFlowRunEventTrigger`` on the emulator's recurring flow, which runs on its own schedule (no task
creates its runs). It must run once per run of the flow, each time with that run's summary as the
triggering event's payload, across a kill -9 of the triggerer while a run is in progress.

The watcher is registered at the start (Airflow registers an asset's watchers when it parses the
file of an unpaused DAG scheduled on the asset), so it also lives through the triggerer kill of the
fan-out drill. The flow's schedule starts only once the scheduler makes asset-triggered DAG runs
(this deployment's first scheduler runs with ``use_job_schedule`` off), so that each event can start
a DAG run of its own. Runs are :data:`EVERY` seconds apart: longer than a killed triggerer's
watchers stay orphaned (``triggerer_health_check_threshold``, 30 s), so exactly one run ends while
no triggerer runs the watcher.

Beside the watcher, ``e2e_window_sensor`` waits for the window of the first two of those runs with a
sensor started in the triggerer (``start_from_trigger``): the triggerer renders its templated window
and waits, across the same kill, and it must end with exactly those two runs.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from typing import Any

from deployment import RECURRING_FLOW_ID, Deployment, wait_until
from drills import DrillLog
from emulator_admin import EmulatorAdmin, run_status, run_window
from rest import AirflowRest

EVENT_CONSUMER = "e2e_event_trigger"
WINDOW_SENSOR = "e2e_window_sensor"
WINDOW_SENSOR_TASK = "wait_for_window"
WINDOW_SENSOR_RUN = "window_of_two_scheduled_runs"
WATCHED_ASSET = "e2e_recurring_flow_ingested"
#: Seconds between two runs of the recurring flow (and the length of their windows).
EVERY = 45
#: Seconds each of its runs is in progress (set in the emulator's config by the driver).
RUN_DURATION = 6
#: Runs of the schedule: one before the kill, one ending while the watcher is down, one after.
RUNS = 3
TERMINAL = ("success", "failed")


def ended_at(run: dict[str, Any]) -> int | None:
    return run["metrics"].get("durationSummary", {}).get("completedAtUTC")


def is_summary_of(payload: dict[str, Any], run: dict[str, Any]) -> bool:
    """Whether an event's payload is the ``flow_run`` summary of ``run`` (as the emulator shows it)."""
    records = run["metrics"].get("recordSummary", {})
    fields = ("run_id", "flow_id", "status", "window_start", "window_end", "output_records", "failed_records")
    want = (run["id"], run["flowId"], run_status(run), *run_window(run))
    want += (records.get("outputRecordCount"), records.get("failedRecordCount"))
    return (
        tuple(payload.get(field) for field in fields) == want
        and bool(payload.get("batch_ids"))
        and str(payload.get("ui_url")).endswith(f"/activity/{run['id']}")
    )


class EventTriggerScenario:
    """Drive and check the watcher; ``log`` gets the drill's facts."""

    def __init__(self, deployment: Deployment, rest: AirflowRest, emu: EmulatorAdmin, log: DrillLog) -> None:
        self.deployment = deployment
        self.rest = rest
        self.emu = emu
        self.log = log

    def watch(self) -> None:
        """Unpause the consumer and have its file parsed again, which registers the asset's watcher."""
        self.rest.unpause(EVENT_CONSUMER)
        self.rest.unpause(WINDOW_SENSOR)
        self.rest.reparse(EVENT_CONSUMER)

    def watching(self) -> dict[str, Any]:
        """The watched asset once its watcher runs with a position in the asset's state store."""

        def stored() -> dict[str, Any] | None:
            asset = self.rest.asset(WATCHED_ASSET)
            if asset is None or not asset["watchers"] or not self.rest.asset_state_store(asset["id"]):
                return None
            return asset

        return dict(wait_until(f"the watcher of {WATCHED_ASSET} to store its position", stored, 120, interval=1))

    def run(self, triggerer_env: dict[str, str]) -> None:
        """Start the flow's schedule, kill -9 the triggerer while its second run is in progress, stop the
        schedule after :data:`RUNS` runs, and wait until the consumer ran for each of them."""
        asset = self.watching()
        schedule = self.emu.schedule_flow(RECURRING_FLOW_ID, every=EVERY, start=int(time.time()) - EVERY + 2)
        first_two = {"window_start": schedule["start"], "window_end": schedule["start"] + 2 * EVERY}
        self.rest.trigger(WINDOW_SENSOR, WINDOW_SENSOR_RUN, logical_date=None, conf=first_two)
        self._kill_triggerer_mid_run(asset["id"], triggerer_env)
        wait_until(
            f"{RUNS} runs of the recurring flow",
            lambda: len(self.emu.runs(RECURRING_FLOW_ID)) >= RUNS,
            (RUNS + 1) * EVERY,
            interval=1,
        )
        self.emu.unschedule_flow(RECURRING_FLOW_ID)

        def consumed() -> bool:
            """Every run ended, its event fired, and the DAG runs the events started ended."""
            ended = [run for run in self.emu.runs(RECURRING_FLOW_ID) if run_status(run) in TERMINAL]
            events = self.rest.asset_events(asset["id"])
            started = [dag_run for event in events for dag_run in event["created_dagruns"]]
            return (
                len(ended) >= RUNS
                and len(events) >= len(ended)
                and all(event["created_dagruns"] for event in events)
                and all(dag_run["state"] in TERMINAL for dag_run in started)
            )

        wait_until(f"{EVENT_CONSUMER} to run on the event of each run of the flow", consumed, 120, interval=2)
        wait_until(
            f"{WINDOW_SENSOR} to end",
            lambda: self.rest.dag_run(WINDOW_SENSOR, WINDOW_SENSOR_RUN)["state"] in TERMINAL,
            120,
            interval=2,
        )
        kill = self.log.of("event_trigger_kill")
        kill["schedule"] = schedule
        kill["resumed_at"] = min(
            (
                float(request["timestamp"])
                for request in self.emu.requests(limit=5000)
                if request["path"].endswith("/runs")
                and ["property", f"flowId=={RECURRING_FLOW_ID}"] in request["params"]
                and float(request["timestamp"]) > kill["killed_at"]
            ),
            default=None,
        )

    def _kill_triggerer_mid_run(self, asset_id: int, env: dict[str, str]) -> None:
        """SIGKILL the triggerer once the second run started and the position covering the first is stored."""

        def second_run_started() -> dict[str, Any] | None:
            runs = self.emu.runs(RECURRING_FLOW_ID)
            if len(runs) < 2 or run_status(runs[1]) != "inProgress":
                return None
            (cursor,) = self.rest.asset_state_store(asset_id).values()
            return runs[1] if cursor["watermark_ms"] >= (ended_at(runs[0]) or 0) else None

        running = wait_until("the recurring flow's second run, its first one stored", second_run_started, 3 * EVERY)
        old = self.deployment.procs.latest("triggerer")
        self.deployment.procs.kill(old, signal.SIGKILL)
        if not self.deployment.procs.wait_exit(old, 30):
            raise AssertionError(f"drill event_trigger_kill: {old.name} (pid {old.pid}) survived SIGKILL")
        killed_at = time.time()
        new = self.deployment.start_component("triggerer", env)
        self.log.add(
            "event_trigger_kill", pid=old.pid, new_pid=new.pid, killed_at=killed_at, run_in_progress=running["id"]
        )

    def check(self, fail: Callable[[str], None]) -> dict[str, Any]:
        """Once per run: one consumer DAG run each, whose one triggering event carries that run's summary;
        the run in progress at the kill ended while no triggerer ran the watcher, and fired once."""
        runs = self.emu.runs(RECURRING_FLOW_ID)
        by_id = {run["id"]: run for run in runs}
        asset = self.rest.asset(WATCHED_ASSET)
        events = self.rest.asset_events(asset["id"]) if asset else []
        consumer_runs = list(self.rest.paged(f"/dags/{EVENT_CONSUMER}/dagRuns", "dag_runs"))
        fired: list[str] = []
        for dag_run in consumer_runs:
            run_id = dag_run["dag_run_id"]
            extras = [event.get("extra") or {} for event in self.rest.upstream_asset_events(EVENT_CONSUMER, run_id)]
            payloads = [extra.get("payload") or {} for extra in extras]
            fired += [payload.get("run_id") for payload in payloads]
            read = self.rest.xcom(EVENT_CONSUMER, run_id, "read_flow_runs", "return_value")
            read = json.loads(read) if isinstance(read, str) else read
            if dag_run["state"] != "success" or len(extras) != 1 or read != payloads:
                fail(f"{EVENT_CONSUMER} run {run_id} ended {dag_run['state']} on {len(extras)} events, read {read}")
            for extra, payload in zip(extras, payloads, strict=True):
                run = by_id.get(payload.get("run_id"))
                if extra.get("from_trigger") is not True or run is None or not is_summary_of(payload, run):
                    fail(f"{EVENT_CONSUMER} run {run_id}: an event is not a flow run's summary: {extra}")
        if len(runs) != RUNS or sorted(fired) != sorted(by_id):
            fail(f"{EVENT_CONSUMER}: flow runs {sorted(by_id)} started DAG runs for {sorted(fired)}")
        if len(events) != len(runs):
            fail(f"{WATCHED_ASSET}: {len(events)} asset events for {len(runs)} flow runs")
        kill = self.log.of("event_trigger_kill")
        down = [run for run in runs if run["id"] == kill["run_in_progress"]]
        ended = (ended_at(down[0]) or 0) / 1000 if down else 0
        resumed = kill["resumed_at"] or float("inf")
        if not kill["killed_at"] < ended < resumed:
            fail(f"drill event_trigger_kill: run {kill['run_in_progress']} ended at {ended}, not while down: {kill}")
        self._check_window_sensor(runs, fail)
        return {
            "flow_runs": len(runs),
            "consumer_dag_runs": len(consumer_runs),
            "asset_events": len(events),
            "watcher_down_seconds": round(resumed - kill["killed_at"], 1),
        }

    def _check_window_sensor(self, runs: list[dict[str, Any]], fail: Callable[[str], None]) -> None:
        """The sensor started in the triggerer and ended with the first two runs, their summaries pushed."""
        first_two = sorted(runs, key=lambda run: run_window(run)[0])[:2]
        state = self.rest.dag_run(WINDOW_SENSOR, WINDOW_SENSOR_RUN)["state"]
        ids = self.rest.xcom(WINDOW_SENSOR, WINDOW_SENSOR_RUN, WINDOW_SENSOR_TASK, "return_value")
        ids = json.loads(ids) if isinstance(ids, str) else ids
        summaries = self.rest.xcom(WINDOW_SENSOR, WINDOW_SENSOR_RUN, WINDOW_SENSOR_TASK, "flow_runs")
        summaries = json.loads(summaries) if isinstance(summaries, str) else summaries
        if state != "success" or ids != [run["id"] for run in first_two]:
            fail(f"{WINDOW_SENSOR} ended {state} with {ids}, expected the runs {[run['id'] for run in first_two]}")
        elif not all(is_summary_of(summary, run) for summary, run in zip(summaries, first_two, strict=True)):
            fail(f"{WINDOW_SENSOR}: flow_runs are not the covering runs' summaries: {summaries}")
        logs = [path.read_text(errors="replace") for path in self.deployment.run_dir.glob("logs/triggerer*.log")]
        if not any(f"Start from trigger enabled for task {WINDOW_SENSOR_TASK}" in text for text in logs):
            fail(f"{WINDOW_SENSOR}: no triggerer log says it started {WINDOW_SENSOR_TASK} from the trigger")
