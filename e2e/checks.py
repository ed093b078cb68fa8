"""What must hold after the drills, read through Airflow's REST API and the emulator's admin API.

Every check appends a readable line to ``failures`` instead of stopping at the first, so one run
names everything that went wrong.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import requests
from drills import DrillLog
from emulator_admin import EmulatorAdmin, run_status, run_window
from plan import Ingestion, PlannedRun, windows_by_flow
from rest import AirflowRest

T = TypeVar("T")
BLOCKED_LOOP = re.compile(r"async thread was blocked|badly-written trigger")


class Checks:
    def __init__(self, rest: AirflowRest, emu: EmulatorAdmin, plan: dict[str, PlannedRun], task_logs: Path) -> None:
        self.rest = rest
        self.task_logs = task_logs
        self.emu = emu
        self.plan = plan
        self.failures: list[str] = []
        self.figures: dict[str, Any] = {}

    def fail(self, message: str) -> None:
        self.failures.append(message)
        print(f"    FAIL {message}", flush=True)

    def attempt(self, what: str, check: Callable[[], T], fallback: T) -> T:
        """Run one check; an error in it is a failure of that check, and the other checks still run."""
        try:
            return check()
        except (RuntimeError, KeyError, AssertionError, requests.RequestException) as error:
            self.fail(f"{what}: could not be checked: {type(error).__name__}: {error}")
            return fallback

    # -- Airflow's side ---------------------------------------------------------------------------
    def dag_runs(self) -> dict[str, list[dict[str, Any]]]:
        """Every planned DAG run succeeded, and so did each of its task instances."""
        tis_by_run = {}
        for run in self.plan.values():
            state = self.rest.dag_run(run.dag_id, run.run_id)["state"]
            tis = self.rest.task_instances(run.dag_id, run.run_id)
            tis_by_run[run.dag_id] = tis
            if state != "success":
                states = Counter(str(ti["state"]) for ti in tis)
                self.fail(f"DAG run {run.dag_id}/{run.run_id} ended {state} (task states {dict(states)})")
            for ti in tis:
                if ti["state"] != "success":
                    self.fail(f"task {run.dag_id}.{ti['task_id']}[{ti['map_index']}] ended {ti['state']}")
        return tis_by_run

    def summaries(self) -> dict[tuple[str, str, int], dict[str, Any]]:
        """XCom ``flow_run`` of every ingestion: success, for its own window, naming the run it returned."""
        wanted = [(run, ingestion) for run in self.plan.values() for ingestion in run.ingestions]

        def read(item: tuple[PlannedRun, Ingestion]) -> tuple[tuple[str, str, int], dict[str, Any] | None]:
            run, ingestion = item
            key = (run.dag_id, ingestion.task_id, ingestion.map_index)
            try:
                summary = self.rest.xcom(
                    run.dag_id, run.run_id, ingestion.waiting_task, "flow_run", ingestion.map_index
                )
                returned = self.rest.xcom(
                    run.dag_id, run.run_id, ingestion.task_id, "return_value", ingestion.map_index
                )
            except RuntimeError as error:
                self.fail(f"{key}: XCom not readable: {error}")
                return key, None
            if isinstance(summary, str):
                summary = json.loads(summary)
            if (summary["window_start"], summary["window_end"]) != ingestion.window:
                self.fail(
                    f"{key}: flow_run window {summary['window_start']}-{summary['window_end']} != {ingestion.window}"
                )
            if summary["status"] != "success":
                self.fail(f"{key}: flow_run status {summary['status']}")
            if ingestion.summary_task is None and returned != summary["run_id"]:
                self.fail(f"{key}: return_value {returned} != flow_run.run_id {summary['run_id']}")
            return key, summary

        with ThreadPoolExecutor(4) as pool:
            return {key: summary for key, summary in pool.map(read, wanted) if summary is not None}

    def asset_consumer(self, summaries: dict[tuple[str, str, int], dict[str, Any]], consumer_dag: str) -> int:
        """The consumer DAG ran on the assets' events and read each producer run's records and batches.

        :return: how many consumer DAG runs there were
        """
        runs = list(self.rest.paged(f"/dags/{consumer_dag}/dagRuns", "dag_runs"))
        if not runs or any(run["state"] != "success" for run in runs):
            self.fail(f"{consumer_dag}: DAG runs {[(run['dag_run_id'], run['state']) for run in runs]}")
            return len(runs)
        landed = []
        for run in runs:
            value = self.rest.xcom(consumer_dag, run["dag_run_id"], "report_what_landed", "return_value")
            landed += json.loads(value) if isinstance(value, str) else value
        producers = {key: summary for key, summary in summaries.items() if key[0] == "example_aep_assets"}
        for key, summary in producers.items():
            seen = [entry for entry in landed if entry["run_id"] == summary["run_id"]]
            wanted = {field: summary[field] for field in ("output_records", "failed_records", "batch_ids")}
            if len(seen) != 1 or {field: seen[0][field] for field in wanted} != wanted:
                self.fail(f"{consumer_dag}: the event of {key} read as {seen}, want one with {wanted}")
        return len(runs)

    # -- the emulator's side ----------------------------------------------------------------------
    def windows(self, summaries: dict[tuple[str, str, int], dict[str, Any]]) -> dict[str, Any]:
        """Exactly one non-failed run per planned (flow, window); window reports without gap or overlap."""
        expected = windows_by_flow(self.plan)
        per_window: Counter[int] = Counter()
        duplicates = 0
        by_flow: dict[str, Any] = {}
        summary_runs = {summary["run_id"] for summary in summaries.values()}
        for flow_id, windows in expected.items():
            runs = self.emu.runs(flow_id)
            live = Counter(run_window(run) for run in runs if run_status(run) != "failed")
            every = Counter(run_window(run) for run in runs)
            for window in windows:
                per_window[live[window]] += 1
                if live[window] != 1:
                    self.fail(f"flow {flow_id} window {window}: {live[window]} non-failed runs (want 1)")
                duplicates += max(0, live[window] - 1)
            strays = sorted(set(every) - set(windows))
            if strays:
                self.fail(f"flow {flow_id}: runs for windows nobody planned: {strays[:5]}")
            unreported = sorted(
                run["id"] for run in runs if run_status(run) != "failed" and run["id"] not in summary_runs
            )
            if unreported:
                self.fail(f"flow {flow_id}: runs no task reported in flow_run: {unreported[:5]}")
            report = self.emu.windows(flow_id)
            if report["gaps"] or report["overlaps"]:
                self.fail(f"flow {flow_id}: window report gaps {report['gaps'][:3]} overlaps {report['overlaps'][:3]}")
            if [tuple(window) for window in report["windows"]] != windows:
                self.fail(f"flow {flow_id}: window report lists {len(report['windows'])} windows, want {len(windows)}")
            by_flow[flow_id] = {
                "windows": len(windows), "runs": len(runs), "failed_runs": sum(every.values()) - sum(live.values()),
                "gaps": len(report["gaps"]), "overlaps": len(report["overlaps"]),
            }  # fmt: skip
        return {"runs_per_window": dict(per_window), "duplicates": duplicates, "by_flow": by_flow}

    # -- the drills -------------------------------------------------------------------------------
    def took_over(self, drills: DrillLog, drill: str, dag_id: str, how: str) -> None:
        """The killed try's successors used the same run: one run, XCom return_value and a log say so.

        Try 2 takes over; a later try is fine too when another drill (the scheduler restart) also
        interrupted try 2, but then try 2's log must say ``how`` and the last try must name that run.
        """
        event = drills.of(drill)
        run = self.plan[dag_id]
        task_id = run.ingestions[0].task_id
        ti = self.rest.task_instance(dag_id, run.run_id, task_id)
        if ti["try_number"] < 2:
            self.fail(f"drill {drill}: {dag_id}.{task_id} ended on try {ti['try_number']} (want 2 or later)")
            return
        returned = self.rest.xcom(dag_id, run.run_id, task_id, "return_value")
        if returned != event["run_id"]:
            self.fail(f"drill {drill}: return_value {returned} is not the run {event['run_id']} the killed try had")
        tries = self.rest.tries(dag_id, run.run_id, task_id)
        first = [t for t in tries if t["try_number"] == 1]
        if not first or first[0]["state"] != "failed":
            self.fail(f"drill {drill}: try 1 of {dag_id}.{task_id} is {first[0]['state'] if first else 'missing'}")
        log = self.task_log(dag_id, run.run_id, task_id, 2)
        if f"({how})" not in log:
            self.fail(f"drill {drill}: the log of try 2 does not say the run was {how}")
        if ti["try_number"] > 2:
            last = ti["try_number"]
            print(f"    drill {drill}: {dag_id}.{task_id} ended on try {last}, interrupted after try 2 too", flush=True)

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """A try's log through the REST API; from the log folder when the API has no record of the try.

        A try that the scheduler's restart reset before it finished may be missing from the task
        instance's history (the API answers 404), though its log was written.
        """
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        try:
            return json.dumps(self.rest.get(path, full_content="true"))
        except RuntimeError as err:
            if " answered 404" not in str(err):
                raise
        folder = self.task_logs / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        file = folder / f"attempt={try_number}.log"
        print(f"    no API record of try {try_number} of {dag_id}.{task_id}: reading {file}", flush=True)
        return file.read_text()

    # -- logs ---------------------------------------------------------------------------------------
    def triggerer_logs(self, log_dir: Path) -> list[str]:
        """The triggerer must never warn that its loop was blocked."""
        hits = []
        for path in sorted(log_dir.glob("triggerer-*.log")):
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if BLOCKED_LOOP.search(line):
                    hits.append(f"{path.name}:{number}: {line.strip()[:300]}")
        for hit in hits[:10]:
            self.fail(f"triggerer loop blocked: {hit}")
        return hits
