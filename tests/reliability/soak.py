"""The fault soak: many ingestion tasks against a Flow Service that misbehaves, then the invariants.

One engine for ``tests/reliability/test_fault_soak.py`` (small, asserted) and
``benchmarks/fault_soak.py`` (larger, printed). A soak:

1. plans contiguous data windows over a few flows (healthy table and file flows, flows whose first
   run fails — resubmitted or re-triggered — and a flow whose runs always fail), each window one
   ingestion task in one of three modes: ``sync`` (waits in the worker), ``deferrable`` (waits in the
   trigger) or ``reschedule`` (creates the run, a reschedule-mode sensor waits);
2. serves an emulator with faults on (5xx, 429 with Retry-After, dropped connections, latency
   spikes, ``POST /runs`` that commits then answers 502 or answers late, IMS failures), a
   visibility delay, tokens that expire every few seconds and canary credentials;
3. runs all tasks in one ``dag.test()`` with Airflow retries, some tries dying mid-wait or between
   submit and persist (:mod:`reliability.crashes`);
4. reads back task outcomes, the runs per (flow, window), the emulator's window report and every
   stored text, for :class:`~reliability.soak_result.SoakResult` to judge.

Airflow must be configured (``AIRFLOW_HOME``, migrated DB) before this module is imported.
"""

from __future__ import annotations

import json
import os
import random
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch

from airflow.sdk import DAG
from dagtest import run_dag_test
from reliability.crashes import BEFORE_PERSIST, MID_WAIT, WindowKey, simulated_crashes
from reliability.leaks import canary_credentials, stored_texts
from reliability.soak_result import SOAK_DAG_ID, SoakResult

from airflow_flowrun.auth import TOKEN_CACHE
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.hooks.flow_service_async import AdobeFlowServiceAsyncHook
from airflow_flowrun.operators.flow_run import (
    AdobeFileFlowRunOperator,
    AdobeTableFlowRunOperator,
    _AdobeFlowRunOperator,
)
from airflow_flowrun.retry import RetryPolicy
from airflow_flowrun.sensors.flow_run import AdobeFlowRunSensor
from airflow_flowrun.submission import RunSubmitter

#: The retry rule with delays in milliseconds: what is retried and how often is unchanged.
QUICK_RETRIES = RetryPolicy(max_attempts=6, base_delay=0.05, max_delay=0.2, max_retry_after=1.0)
SOAK_CONN_ID = "aep_soak"
MODES = ("sync", "deferrable", "reschedule")
FIRST_WINDOW_START = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
WINDOW_SECONDS = 3600
DELTA_COLUMN = "updated_at"


@contextmanager
def quick_retries(lost_answer_grace: float = 1.5) -> Iterator[None]:
    """Both hooks retry with :data:`QUICK_RETRIES`; a lost ``POST /runs`` answer is looked for this long
    in its try, and twice as long past the POST by the next try (the soak's listings lag 1 s)."""
    with ExitStack() as stack:
        stack.enter_context(patch.object(AdobeFlowServiceHook, "retry_policy", QUICK_RETRIES))
        stack.enter_context(patch.object(AdobeFlowServiceHook, "lost_answer_grace", lost_answer_grace))
        stack.enter_context(patch.object(RunSubmitter, "listing_lag", 2 * lost_answer_grace))
        stack.enter_context(patch.object(AdobeFlowServiceAsyncHook, "retry_policy", QUICK_RETRIES))
        yield


@dataclass(frozen=True)
class SoakConfig:
    """Size and weather of a soak.

    :param tasks: ingestion tasks (one window each); reschedule-mode tasks add a sensor each
    :param retries: Airflow retries of every task. A healthy window can spend a try on its planned
        crash or on its flow's failing first run, and one on each ``POST /runs`` whose answer was lost
        before it committed (a 500, 502 or 504, the dropped third POST): that try must fail with
        ``PossiblyCommittedError``, and about one POST in fifteen does. With 2 retries, a window
        with a planned failure failed the soak whenever two of its POSTs were lost (seed 7 on Airflow
        3.1: ``flaky_file_resubmit_w000`` spent a try on each, with one left); 3 make that one in
        a few hundred soaks.
    :param fault_rate: base probability of a fault per Flow Service request (per fault kind)
    :param crash_share: share of the healthy windows whose first try dies, per crash place
    """

    tasks: int = 40
    seed: int = 0
    retries: int = 3
    run_duration: float = 0.4
    poll_interval: float = 0.2
    visibility_delay: float = 1.0
    token_lifetime: float = 3.0
    lost_answer_grace: float = 2.5
    fault_rate: float = 0.03
    latency: float = 0.4
    crash_share: float = 0.1


@dataclass(frozen=True)
class SoakFlow:
    """A flow of the soak and how its runs end."""

    name: str
    flow_id: str
    kind: str
    outcome: str = "success"
    fail_first: int = 0
    retrigger: bool = False

    @property
    def healthy(self) -> bool:
        """Its tasks must succeed (a failing first run is the retry's business)."""
        return self.outcome == "success"


@dataclass(frozen=True)
class SoakTask:
    """One ingestion: a flow, a window, a waiting mode and, maybe, a planned crash."""

    task_id: str
    flow: SoakFlow
    window: tuple[int, int]
    mode: str
    crash: str | None = None

    @property
    def key(self) -> WindowKey:
        return (self.flow.flow_id, *self.window)

    @property
    def sensor_id(self) -> str | None:
        return f"{self.task_id}_wait" if self.mode == "reschedule" else None

    def expected_states(self) -> dict[str, str]:
        """The final state of its task (and sensor): a failing flow fails where the run is waited for."""
        states = {self.task_id: "success" if self.flow.healthy or self.mode == "reschedule" else "failed"}
        if self.sensor_id:
            states[self.sensor_id] = "success" if self.flow.healthy else "failed"
        return states


def plan_soak(config: SoakConfig) -> list[SoakTask]:
    """Contiguous windows per flow, modes spread evenly, crashes on a share of the healthy windows."""
    rng = random.Random(config.seed)

    def flow(name: str, kind: str, **behaviour: Any) -> SoakFlow:
        return SoakFlow(name, str(uuid.UUID(int=rng.getrandbits(128), version=4)), kind, **behaviour)

    healthy = [
        flow("table_a", "table"),
        flow("table_b", "table"),
        flow("file_c", "file"),
        flow("flaky_file_resubmit", "file", fail_first=1),
        flow("flaky_table_retrigger", "table", fail_first=1, retrigger=True),
    ]
    failing = flow("failing_table", "table", outcome="failed")
    failing_count = max(1, config.tasks // 20)
    counts = [(config.tasks - failing_count + i) // len(healthy) for i in range(len(healthy))]
    modes = [MODES[i % len(MODES)] for i in range(config.tasks)]
    rng.shuffle(modes)
    tasks: list[SoakTask] = []
    for soak_flow, count in [*zip(healthy, counts, strict=True), (failing, failing_count)]:
        for index in range(count):
            start = FIRST_WINDOW_START + index * WINDOW_SECONDS
            mode = modes[len(tasks)]
            if soak_flow.fail_first and index == 0 and mode == "reschedule":
                mode = "sync"  # only a waiting operator can replace (or re-trigger) the failed first run
            tasks.append(SoakTask(f"{soak_flow.name}_w{index:03d}", soak_flow, (start, start + WINDOW_SECONDS), mode))
    # the first window of a flaky flow already spends a retry on its failing first run
    candidates = [
        i
        for i, task in enumerate(tasks)
        if task.flow.healthy and not (task.flow.fail_first and task.window[0] == FIRST_WINDOW_START)
    ]
    crash_count = min(len(candidates) // 2, round(config.tasks * config.crash_share))
    chosen = rng.sample(candidates, 2 * crash_count)
    for rank, i in enumerate(chosen):
        tasks[i] = replace(tasks[i], crash=MID_WAIT if rank % 2 else BEFORE_PERSIST)
    return tasks


def build_soak_dag(tasks: list[SoakTask], config: SoakConfig, dag_id: str = SOAK_DAG_ID) -> DAG:
    """One task per window (plus a sensor in reschedule mode); a healthy flow's windows run in order."""
    default_args = {"retries": config.retries, "retry_delay": timedelta(0)}
    start_date = datetime(2026, 11, 1, tzinfo=UTC)
    with DAG(dag_id, schedule=None, start_date=start_date, catchup=False, default_args=default_args) as dag:
        previous: dict[str, Any] = {}
        for task in tasks:
            table = task.flow.kind == "table"
            operator_cls = AdobeTableFlowRunOperator if table else AdobeFileFlowRunOperator
            last = operator_cls(
                task_id=task.task_id,
                flow_id=task.flow.flow_id,
                window_start=task.window[0],
                window_end=task.window[1],
                aep_conn_id=SOAK_CONN_ID,
                wait_for_completion=task.mode != "reschedule",
                deferrable=task.mode == "deferrable",
                poll_interval=config.poll_interval,
                timeout=120,
                retrigger_failed_run=task.flow.retrigger,
                **({"delta_column": DELTA_COLUMN} if table else {}),
            )
            if task.flow.healthy and task.flow.name in previous:
                previous[task.flow.name] >> last
            if task.sensor_id:
                sensor = AdobeFlowRunSensor(
                    task_id=task.sensor_id,
                    run_id=f"{{{{ ti.xcom_pull(task_ids='{task.task_id}') }}}}",
                    aep_conn_id=SOAK_CONN_ID,
                    mode="reschedule",
                    poke_interval=config.poll_interval,
                    timeout=120,
                )
                last = last >> sensor
            previous[task.flow.name] = last
    return dag


#: The fault kinds the soak installs (the token faults are exercised by the emulator's own tests).
SOAK_FAULT_KINDS = ("status", "drop", "latency", "commit_then_502", "commit_then_delay")


def install_faults(emulator: Any, config: SoakConfig) -> None:
    """Every fault kind on Flow Service, failures of IMS, a visibility delay and short-lived tokens."""
    rate = config.fault_rate
    for status in (500, 502, 503, 504):
        emulator.inject("status", status=status, probability=rate / 2)
    emulator.inject("status", status=429, retry_after=1, probability=rate)
    emulator.inject("drop", method="GET", probability=rate)
    emulator.inject("drop", method="POST", path="/runs$", nth=[3])
    emulator.inject("latency", delay=config.latency, probability=rate)
    emulator.inject("commit_then_502", every=7)
    emulator.inject("commit_then_delay", delay=config.latency, every=11)
    emulator.inject("status", path="/ims/", status=503, probability=0.1)
    emulator.inject("drop", path="/ims/", probability=0.05)
    emulator.visibility_delay = config.visibility_delay
    emulator.token_lifetime = config.token_lifetime


@contextmanager
def recorded_errors() -> Iterator[dict[str, list[str]]]:
    """Record what each try of the soak's operators and sensors raised, with the end of its traceback.

    ``dag.test()`` keeps no task log a test can read, and a soak's timing cannot be replayed: this is
    how a wrong outcome explains itself.
    """
    errors: dict[str, list[str]] = {}

    def recording(method: Any) -> Any:
        def call(task: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(task, context, *args, **kwargs)
            except Exception as err:
                if type(err).__name__ not in ("TaskDeferred", "AirflowRescheduleException"):
                    where = "".join(traceback.format_exception(err, limit=-4)).rstrip()
                    ti = context["ti"]
                    errors.setdefault(task.task_id, []).append(f"try {ti.try_number}, {method.__name__}: {where}")
                raise

        return call

    with ExitStack() as stack:
        for cls in (_AdobeFlowRunOperator, AdobeFlowRunSensor):
            for name in ("execute", "execute_complete"):
                stack.enter_context(patch.object(cls, name, recording(getattr(cls, name))))
        yield errors


def run_soak(config: SoakConfig) -> SoakResult:
    """Run the soak against an emulator of its own; return what happened for :class:`SoakResult` to judge."""
    from airflow_flowrun.emulator import FlowServiceEmulator

    tasks = plan_soak(config)
    flows = {task.flow.flow_id: task.flow for task in tasks}
    crashes = {where: {t.key for t in tasks if t.crash == where} for where in (MID_WAIT, BEFORE_PERSIST)}
    started = time.monotonic()
    with ExitStack() as stack:
        emulator = stack.enter_context(
            FlowServiceEmulator(run_duration=config.run_duration, seed=config.seed, request_log_size=200_000)
        )
        canary = stack.enter_context(canary_credentials(emulator))
        connection = {**emulator.connection_dict, "password": canary.secret}
        env_name = f"AIRFLOW_CONN_{SOAK_CONN_ID.upper()}"
        stack.enter_context(patch.dict(os.environ, {env_name: json.dumps(connection)}))
        stack.enter_context(quick_retries(config.lost_answer_grace))
        ledger = stack.enter_context(simulated_crashes(crashes[MID_WAIT], crashes[BEFORE_PERSIST]))
        errors = stack.enter_context(recorded_errors())
        TOKEN_CACHE.clear()
        for soak_flow in flows.values():
            emulator.add_flow(
                kind=soak_flow.kind,
                flow_id=soak_flow.flow_id,
                name=f"soak {soak_flow.name}",
                outcome=soak_flow.outcome,
                fail_first=soak_flow.fail_first,
            )
        install_faults(emulator, config)
        dag_run = run_dag_test(build_soak_dag(tasks, config), logical_date=None)
        emulator.clear_faults()
        runs = {flow_id: emulator.runs(flow_id) for flow_id in flows}
        reports = {flow_id: emulator.window_report(flow_id) for flow_id in flows}
        faults = emulator.faults_injected
        token_requests = emulator.token_requests
        emulator_log = [json.dumps(request.to_dict()) for request in emulator.requests]
    TOKEN_CACHE.clear()
    task_instances = _task_instances(dag_run)
    return SoakResult(
        config=config,
        tasks=tasks,
        task_instances=task_instances,
        runs=runs,
        reports=reports,
        faults=faults,
        token_requests=token_requests,
        crashes_planned={where: len(keys) for where, keys in crashes.items()},
        crashes_happened={where: len(ledger.happened[where]) for where in crashes},
        crashes_missed=[
            f"{task.task_id} ({task.mode}, {task.crash}): {task_instances.get(task.task_id)}"
            for task in tasks
            if task.crash and task.key not in ledger.happened[task.crash]
        ],
        canary=canary,
        texts=[*emulator_log, *stored_texts([SOAK_DAG_ID], run_id=dag_run.run_id)],
        wall_seconds=time.monotonic() - started,
        errors=errors,
    )


def _task_instances(dag_run: Any) -> dict[str, tuple[str, int, int]]:
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = dag_run.get_task_instances(session=session)
        reschedules = Counter(
            str(row.ti_id)
            for row in session.query(TaskReschedule).filter(TaskReschedule.ti_id.in_([ti.id for ti in tis]))
        )
        return {ti.task_id: (str(ti.state), ti.try_number, reschedules[str(ti.id)]) for ti in tis}
