"""Exactly one flow run per task try that needs one, whatever dies in between.

XCom cannot carry a run id across tries (Airflow clears a task's XCom when a new try starts), so:

1. The run id is written to the task's ``task_state_store`` (Airflow >= 3.3) right after the run is
   created. A later try reads it back: an active or succeeded run is re-attached to, a failed one is
   replaced by a new run (or re-triggered).
2. To close the gap between "run created" and "run id stored" (and to cover Airflow without the
   store), a try that finds nothing stored looks up the flow's runs for one with the same window
   created since this DAG run began, and adopts it unless it failed.
3. A try that ends successfully marks its record finished, with the task's ``max_tries`` then: a
   user who clears a succeeded task to re-ingest gets a new run, while a try that died re-attaches.
   Clearing is told apart by ``max_tries``, which Airflow raises on a clear and on nothing else: a
   try killed after marking its record (a scheduler restart that resets the task, a worker lost
   before Airflow stored the success) leaves it unchanged, and the next try re-attaches to the run
   that try finished instead of ingesting the window a second time.
4. Right before ``POST /runs`` the record notes the time a submission started: a try that dies
   after the POST but before the run id is stored leaves that note, and the next try looks for the
   run created since then (even after a finished record or a failed run), instead of submitting again.
5. The record keeps the id of every run the task has used for its window, and the lookups note the
   failed runs they pass over. ``POST /runs`` gets them as ``earlier_runs``: when its answer is lost,
   the run it looks for is one created by that POST, never an earlier try's, even one created a
   moment before (a fast-failing run and no retry delay).
6. A POST whose answer was lost is never sent again within the try (the hook fails the try as
   retryable): the next try finds the note of step 4 and keeps looking for the run that POST made
   until :data:`LISTING_LAG` seconds after the note, however long the listing lags behind. A POST
   that was refused (429, 503, a 4xx) made no run: its note is withdrawn, so the next try does not
   wait for a run that cannot appear.
7. Only where these rules would create a run does the operator's ``on_existing_window_run`` apply
   (see :mod:`airflow_flowrun.existing_window_run`): a run another DAG run, another DAG or the UI
   made for the window may be reused instead (recorded like any run of the task), or fail the task.

Every lookup starts one :data:`~airflow_flowrun.api.CLOCK_SKEW_MS` before the moment it is about,
as Flow Service's clock and ours may differ.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_flowrun import api
from airflow_flowrun.exceptions import FlowServiceError, FlowServiceFatalError
from airflow_flowrun.existing_window_run import CREATE, existing_window_run
from airflow_flowrun.status import RunStatus
from airflow_flowrun.summary import completed_at

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.sdk.types import Logger

    from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

#: The key of our record in ``task_state_store``; renaming it breaks re-attach of in-flight tries.
STATE_KEY = "aep_flow_run"
#: After a POST whose answer was lost, a later try looks this many seconds past the POST for its run.
LISTING_LAG = 60.0


@dataclass(frozen=True)
class Submission:
    """The run a try works with, and how it was obtained.

    ``how`` is ``created``, ``reattached``, ``adopted``, ``retriggered`` or ``reused`` (a run for the
    window that the task did not make, taken as ``on_existing_window_run="reuse"`` says).

    :param created_at: epoch seconds when the run (or its re-trigger) started, if this try knows
    :param stale_failure: after a re-trigger, ``{"completed_at"}`` of the failed attempt it replaced
    """

    run_id: str
    how: str
    created_at: float | None = None
    stale_failure: dict[str, Any] | None = None


class RunSubmitter:
    """Decide, for one try, whether to create a run or take over an existing one, and record it.

    :param hook: the sync hook
    :param context: the task context (``task_state_store``, ``dag_run``, ``ti``)
    :param flow_id, window_start, window_end: the run's identity: flow and data window (epoch s)
    """

    #: Seconds past a noted POST during which a later try keeps looking for the run it made.
    listing_lag = LISTING_LAG

    def __init__(
        self,
        hook: AdobeFlowServiceHook,
        context: Any,
        *,
        flow_id: str,
        window_start: int,
        window_end: int,
        log: Logger,
    ) -> None:
        self.hook = hook
        self.flow_id = flow_id
        self.window = [window_start, window_end]
        self.log = log
        self.store = context.get("task_state_store")
        dag_run = context.get("dag_run")
        self.dag_run_started = getattr(dag_run, "start_date", None) if dag_run is not None else None
        ti = context.get("ti")
        #: On a task's first try no earlier try can have left a run behind.
        self.first_try = ti is not None and getattr(ti, "try_number", 0) <= 1
        self.max_tries: int | None = getattr(ti, "max_tries", None) if ti is not None else None
        #: Runs of this flow and window that earlier tries used or left behind.
        self.earlier_runs: set[str] = set()
        #: Failed runs met on the way, by id: a re-trigger needs the failed attempt's end time.
        self.failed_runs: dict[str, dict[str, Any]] = {}

    def obtain(
        self,
        create: Callable[[frozenset[str]], dict[str, Any]],
        *,
        retrigger_failed: bool = False,
        on_existing_window_run: str = CREATE,
    ) -> Submission:
        """The run this try should wait for: re-attached, adopted, re-triggered, reused or newly created.

        :param create: creates a run; it gets the ids of runs that predate it (see ``earlier_runs``
            of :meth:`~airflow_flowrun.hooks.flow_service.AdobeFlowServiceHook.create_run`)
        :param on_existing_window_run: where a run would be created, what a run of the window
            that is not the task's own changes (see :mod:`airflow_flowrun.existing_window_run`)
        :raises ExistingWindowRunError: ``"fail"`` and such a run exists
        """
        record = self._record() or {}
        self.earlier_runs.update(record.get("run_ids") or ())
        if record.get("run_id"):
            self.earlier_runs.add(record["run_id"])
        failed_run_id: str | None = None
        if record.get("run_id") and not self._cleared_since(record):
            found = self._judge_known(record["run_id"])
            if found is not None:
                return found
            failed_run_id = record["run_id"]
        since_ms = self._lookup_since(record)
        if since_ms is not None:
            adopted = self._adopt_from_lookup(since_ms, self._patience(record))
            if adopted is not None:
                return self._remember(adopted)
        if retrigger_failed and failed_run_id is None and since_ms is not None:
            failed_run_id = self._failed_run_since(since_ms)
        if retrigger_failed and failed_run_id is not None:
            return self._remember(self._retrigger(failed_run_id))
        window = (self.window[0], self.window[1])
        existing = existing_window_run(
            self.hook, on_existing_window_run, flow_id=self.flow_id, window=window, exclude=self.earlier_runs,
            log=self.log,
        )  # fmt: skip
        if existing is not None:
            return self._remember(Submission(existing["id"], "reused"))
        self._write({"run_id": None, "submitting_since_ms": int(time.time() * 1000), "finished": False})
        try:
            created = create(frozenset(self.earlier_runs))
        except FlowServiceError as err:
            if not getattr(err, "possibly_committed", False):
                self._write({"run_id": None, "finished": False})  # refused: no run to look for next try
            raise
        how = "adopted" if created.get("adopted") else "created"
        return self._remember(Submission(created["id"], how, time.time()))

    def _retrigger(self, failed_run_id: str) -> Submission:
        """Re-run a failed run; the action's answer names the run to wait for when it names one."""
        answer = self.hook.retrigger_run(failed_run_id)
        try:
            run_id = api.validate_uuid("re-trigger answer id", api.parse_created_run(answer)["id"])
        except (FlowServiceError, ValueError):
            run_id = failed_run_id
        failed = self.failed_runs.get(failed_run_id) or {}
        self.log.info("Re-triggered failed flow run %s for the same window; waiting for run %s", failed_run_id, run_id)
        return Submission(run_id, "retriggered", time.time(), stale_failure={"completed_at": completed_at(failed)})

    def mark_finished(self, run_id: str) -> None:
        """Record that this try completed with ``run_id`` (see :func:`mark_finished`)."""
        mark_finished(self.store, run_id, max_tries=self.max_tries)

    def _cleared_since(self, record: dict[str, Any]) -> bool:
        """True when a try finished with the recorded run and the task was cleared since (a re-ingest)."""
        if not record.get("finished"):
            return False
        finished_at = record.get("finished_max_tries")
        if finished_at is None or self.max_tries is None:
            return True  # a record written before max_tries was kept: as before, finished means cleared
        if self.max_tries > finished_at:
            return True
        self.log.warning(
            "Flow run %s was finished by an earlier try whose success Airflow did not record (the task "
            "was not cleared since: max_tries is still %d); re-attaching to it instead of ingesting again",
            record.get("run_id"), self.max_tries,
        )  # fmt: skip
        return False

    def _record(self) -> dict[str, Any] | None:
        if self.store is None:
            return None
        record = self.store.get(STATE_KEY)
        if not isinstance(record, dict):
            return None
        if record.get("flow_id") != self.flow_id or list(record.get("window") or []) != self.window:
            self.log.info("Stored flow run %s was for another flow or window; not reusing it", record.get("run_id"))
            return None
        return record

    def _lookup_since(self, record: dict[str, Any]) -> int | None:
        """Epoch ms after which a run of an earlier try may exist unrecorded, or None when none can."""
        if record.get("submitting_since_ms"):
            return int(record["submitting_since_ms"]) - api.CLOCK_SKEW_MS  # a POST was under way when that try ended
        if self.store is not None or self.first_try or self.dag_run_started is None:
            return None  # with a store, a submission that left no note never reached POST /runs
        return int(self.dag_run_started.timestamp() * 1000) - api.CLOCK_SKEW_MS

    def _patience(self, record: dict[str, Any]) -> float:
        """How long a lookup keeps looking: until :attr:`listing_lag` past a noted POST, else the hook's grace."""
        if record.get("submitting_since_ms"):
            return max(0.0, int(record["submitting_since_ms"]) / 1000 + self.listing_lag - time.time())
        return float(self.hook.lost_answer_grace)

    def _judge_known(self, run_id: str) -> Submission | None:
        try:
            run = self.hook.get_run(run_id)
        except FlowServiceError as err:
            if err.status != 404:
                raise
            self.log.warning("Stored flow run %s is not visible (404); re-attaching anyway", run_id)
            return Submission(run_id, "reattached", time.time())
        status = RunStatus.of_run(run)
        if status is RunStatus.FAILED:
            self.log.warning("Flow run %s of an earlier try failed; it will be replaced", run_id)
            self.failed_runs[run_id] = run
            return None
        self.log.info("Re-attaching to flow run %s of an earlier try (status %s)", run_id, status.value)
        return Submission(run_id, "reattached")

    def _adopt_from_lookup(self, since_ms: int, patience: float) -> Submission | None:
        """A run for this window that an earlier try created but did not record, unless it failed."""
        try:
            run = self.hook.find_window_run(
                self.flow_id, self.window[0], self.window[1], created_after_ms=since_ms,
                patience=patience, accept=self._alive,
            )  # fmt: skip
        except FlowServiceFatalError as err:
            if err.status not in (400, 404, 405):
                raise
            self.log.warning("Could not look up earlier runs of flow %s for this window (%s)", self.flow_id, err)
            return None
        if run is None:
            return None
        self.log.info("Adopting flow run %s that an earlier try created for this window", run["id"])
        return Submission(run["id"], "adopted")

    def _alive(self, run: dict[str, Any]) -> bool:
        """True unless ``run`` failed or is one the task used before; a failed run is noted as an earlier one."""
        if run.get("id") in self.earlier_runs:
            return False  # e.g. the finished run of a try before the user cleared the task to re-ingest
        if RunStatus.of_run(run) is RunStatus.FAILED:
            self.earlier_runs.add(run["id"])
            self.failed_runs[run["id"]] = run
            return False
        return True

    def _failed_run_since(self, since_ms: int) -> str | None:
        """Without a record (Airflow < 3.3), the failed run of an earlier try is found by lookup."""
        run = self.hook.find_window_run(
            self.flow_id, self.window[0], self.window[1], created_after_ms=since_ms,
            accept=lambda run: RunStatus.of_run(run) is RunStatus.FAILED,
        )  # fmt: skip
        if run is None:
            return None
        self.failed_runs[run["id"]] = run
        return str(run["id"])

    def _remember(self, submission: Submission) -> Submission:
        self._write({"run_id": submission.run_id, "finished": False})
        return submission

    def _write(self, record: dict[str, Any]) -> None:
        if self.store is None:
            return
        run_ids = self.earlier_runs | ({record["run_id"]} if record.get("run_id") else set())
        self.store.set(
            STATE_KEY, {"flow_id": self.flow_id, "window": self.window, **record, "run_ids": sorted(run_ids)}
        )


def mark_finished(store: Any, run_id: str, *, max_tries: int | None = None) -> None:
    """Record in ``task_state_store`` that a try completed with ``run_id``.

    From then on, clearing the task means "ingest again": the next try creates a new run instead of
    re-attaching. A next try while ``max_tries`` is unchanged was not cleared (Airflow raises it on a
    clear): it re-attaches. Without a store (Airflow < 3.3) there is nothing to record.

    :param max_tries: the finishing try's ``ti.max_tries``
    """
    if store is None:
        return
    record = store.get(STATE_KEY)
    if isinstance(record, dict) and record.get("run_id") == run_id:
        store.set(STATE_KEY, {**record, "finished": True, "finished_max_tries": max_tries})
