"""The verdicts on a fault soak: outcomes, runs per window, gaps and overlaps, leaks, and its figures."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reliability.crashes import BEFORE_PERSIST, MID_WAIT

#: The soak's DAG id (``reliability.soak`` imports this module).
SOAK_DAG_ID = "reliability_fault_soak"

if TYPE_CHECKING:
    from reliability.crashes import WindowKey
    from reliability.leaks import Canary
    from reliability.soak import SoakConfig, SoakTask


@dataclass
class SoakResult:
    """What a soak left behind, and the verdicts on it."""

    config: SoakConfig
    tasks: list[SoakTask]
    task_instances: dict[str, tuple[str, int, int]]  # task id -> (state, try number, reschedules)
    runs: dict[str, list[dict[str, Any]]]
    reports: dict[str, dict[str, Any]]
    faults: dict[str, int]
    token_requests: int
    crashes_planned: dict[str, int]
    crashes_happened: dict[str, int]
    #: Planned crashes that did not happen: ``"task id (mode, where): (state, try number, reschedules)"``.
    crashes_missed: list[str]
    canary: Canary
    texts: list[str]
    #: What each task's tries raised: ``{task_id: ["try N, in method: the traceback's last lines"]}``.
    errors: dict[str, list[str]]
    wall_seconds: float

    def wrong_outcomes(self) -> dict[str, tuple[str, str]]:
        """``{task_id: (expected, actual)}`` of every task that did not end as its flow says it must."""
        expected = {task_id: state for task in self.tasks for task_id, state in task.expected_states().items()}
        actual = {task_id: state for task_id, (state, _, _) in self.task_instances.items()}
        return {
            task_id: (state, actual.get(task_id, "missing"))
            for task_id, state in expected.items()
            if actual.get(task_id) != state
        }

    def window_findings(self) -> dict[str, list[Any]]:
        """Duplicates, missing windows, runs of unplanned windows and too many runs of a failing window.

        A window of a healthy flow must have exactly one run that did not fail; a window of the
        failing flow none, and at most one run per Airflow try. Each finding is ``(task id, mode,
        planned crash, statuses of the window's runs)``.
        """
        findings: dict[str, list[Any]] = {"duplicates": [], "missing": [], "unplanned": [], "excess": []}
        planned = {task.key: task for task in self.tasks}
        by_window = self.statuses_by_window()
        findings["unplanned"] = [key for key in by_window if key not in planned]
        for key, task in planned.items():
            statuses = by_window.get(key, [])
            alive = [status for status in statuses if status != "failed"]
            finding = (task.task_id, task.mode, task.crash, statuses)
            if task.flow.healthy and not alive:
                findings["missing"].append(finding)
            if len(alive) > (1 if task.flow.healthy else 0):
                findings["duplicates"].append(finding)
            if len(statuses) > self.config.retries + 1:
                findings["excess"].append(finding)
        return findings

    def gaps_and_overlaps(self) -> tuple[list[Any], list[Any]]:
        """The emulator's gaps and overlaps between the ingested windows, over all flows."""
        gaps = [gap for report in self.reports.values() for gap in report["gaps"]]
        overlaps = [overlap for report in self.reports.values() for overlap in report["overlaps"]]
        return gaps, overlaps

    def leaks(self, captured_text: str = "") -> list[str]:
        """Occurrences of the client secret or any issued token in the captured output and stored texts."""
        return self.canary.find([captured_text, *self.texts])

    def statuses_by_window(self) -> dict[WindowKey, list[str]]:
        """The statuses of each (flow, window)'s runs, oldest first."""
        by_window: dict[WindowKey, list[str]] = {}
        for flow_id, runs in self.runs.items():
            for run in runs:
                key = (flow_id, run["params"]["windowStartTime"], run["params"]["windowEndTime"])
                by_window.setdefault(key, []).append(run["metrics"]["statusSummary"]["status"])
        return by_window

    def diagnosis(self, captured_text: str = "") -> str:
        """Each missed crash, and each wrong outcome with its window's runs, what each of its tries raised
        and what ``dag.test()`` itself logged as an error of the task (a try that failed outside the
        operator is failed without a retry).

        A failing soak cannot be re-run with the same timing; this is what its assertion shows instead.
        """
        tasks = {task.task_id: task for task in self.tasks}
        for task in self.tasks:
            if task.sensor_id:
                tasks[task.sensor_id] = task
        by_window = self.statuses_by_window()
        lines = [f"planned crash that did not happen: {missed}" for missed in self.crashes_missed]
        for task_id, (expected, actual) in self.wrong_outcomes().items():
            task = tasks[task_id]
            lines.append(
                f"{task_id} ({task.mode}, crash {task.crash}): expected {expected}, ended {actual} "
                f"{self.task_instances.get(task_id)}; its window's runs: {by_window.get(task.key, [])}"
            )
            lines += [f"  {error}" for error in self.errors.get(task_id, [])]
            lines += [f"  {line}" for line in _dag_test_errors(captured_text, task_id)]
        return "\n".join(lines)

    def figures(self, captured_text: str = "") -> list[str]:
        """The soak's figures, one per line."""
        modes = Counter(task.mode for task in self.tasks)
        findings = self.window_findings()
        gaps, overlaps = self.gaps_and_overlaps()
        tis = self.task_instances.values()
        return [
            f"tasks: {len(self.tasks)} ingestion tasks ({', '.join(f'{m} {n}' for m, n in sorted(modes.items()))}) "
            f"+ {modes['reschedule']} sensors over {len(self.runs)} flows",
            *(f"faults injected ({kind}): {count}" for kind, count in sorted(self.faults.items())),
            f"faults injected: {sum(self.faults.values())}",
            f"token requests: {self.token_requests}",
            f"tries killed mid-wait: {self.crashes_happened[MID_WAIT]} of {self.crashes_planned[MID_WAIT]} planned",
            f"tries killed between submit and persist: {self.crashes_happened[BEFORE_PERSIST]} of "
            f"{self.crashes_planned[BEFORE_PERSIST]} planned",
            *(f"  planned crash that did not happen: {missed}" for missed in self.crashes_missed),
            f"retries spent: {sum(try_number - 1 for _, try_number, _ in tis)}",
            f"sensor reschedules: {sum(reschedules for _, _, reschedules in tis)}",
            f"runs created: {sum(len(runs) for runs in self.runs.values())}",
            f"duplicates: {len(findings['duplicates'])}",
            *(f"  duplicate: {finding}" for finding in findings["duplicates"]),
            f"windows with more runs than tries: {len(findings['excess'])}",
            *(f"  excess: {finding}" for finding in findings["excess"]),
            f"missing windows: {len(findings['missing'])}",
            f"gaps: {len(gaps)}",
            f"overlaps: {len(overlaps)}",
            f"wrong outcomes: {len(self.wrong_outcomes())}",
            f"leaked secrets: {len(self.leaks(captured_text))}",
            f"wall time: {self.wall_seconds:.1f} s",
        ]


def _dag_test_errors(captured_text: str, task_id: str, lines_after: int = 25) -> list[str]:
    """``dag.test()``'s "Error running task" records of ``task_id`` and the traceback lines after each."""
    lines = captured_text.splitlines()
    marker = f"Error running task <TaskInstance: {SOAK_DAG_ID}.{task_id} "
    found: list[str] = []
    for index, line in enumerate(lines):
        if marker in line:
            found += lines[index : index + 1 + lines_after]
    return found
