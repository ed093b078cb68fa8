"""Tries that die where a worker can be killed, simulated in-process (``dag.test()`` cannot SIGKILL a worker).

Three places matter for "exactly one run per window":

- **mid-wait**: the run id is stored, the try is waiting (in the worker, in the triggerer or between
  two sensor pokes) and dies. The next try must re-attach to the run, not create another.
- **between submit and persist**: ``create_run`` returned, but the try dies before the run id reaches
  the task's ``task_state_store``. The next try finds nothing stored and must adopt the run by lookup.
- **after finish**: the try marked its record finished and dies before Airflow stores its success
  (a scheduler restart resets it, a worker is lost). The next try is no clear (``max_tries`` is the
  same): it must re-attach to the finished run, not ingest the window again.

Each crash is planned for a (flow, window) and happens once, on the first try that reaches the spot;
the ledger records which planned crashes really happened, so a test can tell a simulation that never
fired from a provider that survived it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch

from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import TriggerEvent

from airflow_flowrun import outcome
from airflow_flowrun import submission as submission_module
from airflow_flowrun.operators import flow_run as operators_module
from airflow_flowrun.sensors.flow_run import AdobeFlowRunSensor
from airflow_flowrun.status import RunStatus
from airflow_flowrun.submission import RunSubmitter
from airflow_flowrun.triggers.flow_run import AdobeFlowRunTrigger

#: (flow id, window start, window end): the identity of an ingestion.
WindowKey = tuple[str, int, int]

MID_WAIT = "mid_wait"
BEFORE_PERSIST = "before_persist"
AFTER_FINISH = "after_finish"


class SimulatedCrash(AirflowException):
    """A try dying as a killed worker would: Airflow marks it failed and retries it like any other."""


@dataclass
class CrashLedger:
    """Which crashes are planned, which happened, and which run belongs to which window."""

    planned: dict[str, set[WindowKey]]
    happened: dict[str, set[WindowKey]] = field(
        default_factory=lambda: {MID_WAIT: set(), BEFORE_PERSIST: set(), AFTER_FINISH: set()}
    )
    run_windows: dict[str, WindowKey] = field(default_factory=dict)

    def due(self, where: str, key: WindowKey | None) -> bool:
        """True when a crash is planned here for this window and has not happened yet."""
        return key is not None and key in self.planned[where] and key not in self.happened[where]

    def crash(self, where: str, key: WindowKey, what: str) -> SimulatedCrash:
        """Record the crash and return the exception that makes the try die."""
        self.happened[where].add(key)
        return SimulatedCrash(f"simulated worker death {what}")


@contextmanager
def simulated_crashes(
    mid_wait: Iterable[WindowKey], before_persist: Iterable[WindowKey], after_finish: Iterable[WindowKey] = ()
) -> Iterator[CrashLedger]:
    """Make the first try of each planned window die mid-wait, between submit and persist, or after finish.

    :param mid_wait: windows whose first wait dies after one status read (sync wait in the worker,
        deferred wait in the trigger, the worker's read of a taken-over run that had already ended,
        or a reschedule sensor's poke)
    :param before_persist: windows whose first try dies right after the run exists, before its id is stored
    :param after_finish: windows whose first try dies right after marking its record finished
    """
    ledger = CrashLedger(
        {MID_WAIT: set(mid_wait), BEFORE_PERSIST: set(before_persist), AFTER_FINISH: set(after_finish)}
    )
    remember = RunSubmitter._remember
    mark_finished = submission_module.mark_finished
    wait_for_run = outcome.wait_for_run
    trigger_run = AdobeFlowRunTrigger.run
    poke = AdobeFlowRunSensor.poke
    ended_already = operators_module._AdobeFlowRunOperator._ended_already

    def remember_or_die(submitter: RunSubmitter, submission: Any) -> Any:
        key = (submitter.flow_id, submitter.window[0], submitter.window[1])
        ledger.run_windows[submission.run_id] = key
        if ledger.due(BEFORE_PERSIST, key):
            raise ledger.crash(
                BEFORE_PERSIST, key, f"after flow run {submission.run_id} was created, before it was stored"
            )
        return remember(submitter, submission)

    def finish_then_die(store: Any, run_id: str, **kwargs: Any) -> None:
        mark_finished(store, run_id, **kwargs)
        key = ledger.run_windows.get(run_id)
        if key is not None and ledger.due(AFTER_FINISH, key):
            raise ledger.crash(AFTER_FINISH, key, f"after finishing with flow run {run_id}, before Airflow stored it")

    def wait_then_die(read_run: Any, summarize: Any, **kwargs: Any) -> Any:
        run_id = kwargs["run_id"]
        key = ledger.run_windows.get(run_id)
        if not ledger.due(MID_WAIT, key):
            return wait_for_run(read_run, summarize, **kwargs)

        def read_once_then_die() -> dict[str, Any]:
            status = RunStatus.of_run(read_run()).value
            raise ledger.crash(MID_WAIT, key, f"while waiting in the worker for flow run {run_id} ({status})")

        return wait_for_run(read_once_then_die, summarize, **kwargs)

    async def trigger_run_or_die(trigger: AdobeFlowRunTrigger) -> AsyncIterator[TriggerEvent]:
        key = ledger.run_windows.get(trigger.run_id)
        if ledger.due(MID_WAIT, key):
            await asyncio.sleep(trigger.poll_interval)
            crash = ledger.crash(MID_WAIT, key, f"while deferred on flow run {trigger.run_id}")
            yield TriggerEvent({"status": "error", "run_id": trigger.run_id, "message": str(crash), "flow_run": None})
            return
        async for event in trigger_run(trigger):
            yield event

    def ended_already_or_die(operator: Any, submission: Any) -> Any:
        """A deferrable try that took over an ended run judges it without deferring: its wait is that read."""
        ended = ended_already(operator, submission)
        key = ledger.run_windows.get(submission.run_id)
        if ended is not None and ledger.due(MID_WAIT, key):
            raise ledger.crash(MID_WAIT, key, f"while reading ended flow run {submission.run_id} before deferring")
        return ended

    def poke_then_die(sensor: AdobeFlowRunSensor, context: Any) -> bool:
        done = poke(sensor, context)
        key = ledger.run_windows.get(str(sensor.run_id))
        if ledger.due(MID_WAIT, key):
            raise ledger.crash(MID_WAIT, key, f"between two pokes of flow run {sensor.run_id}")
        return done

    with ExitStack() as stack:
        stack.enter_context(patch.object(RunSubmitter, "_remember", remember_or_die))
        stack.enter_context(patch.object(outcome, "wait_for_run", wait_then_die))
        stack.enter_context(patch.object(operators_module, "mark_finished", finish_then_die))
        stack.enter_context(patch.object(submission_module, "mark_finished", finish_then_die))
        stack.enter_context(patch.object(AdobeFlowRunTrigger, "run", trigger_run_or_die))
        stack.enter_context(patch.object(AdobeFlowRunSensor, "poke", poke_then_die))
        stack.enter_context(
            patch.object(operators_module._AdobeFlowRunOperator, "_ended_already", ended_already_or_die)
        )
        yield ledger
