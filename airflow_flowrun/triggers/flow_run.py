"""The trigger that waits for a flow run in the triggerer, for deferrable operators and the sensor."""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import math
import sys
import time
import weakref
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_flowrun.connection import DEFAULT_CONN_ID
from airflow_flowrun.exceptions import FlowRunFailedError, FlowServiceError, InvalidParameterError, error_to_event
from airflow_flowrun.links import flow_run_ui_url
from airflow_flowrun.outcome import is_not_visible_yet, is_stale_failure, timeout_message
from airflow_flowrun.status import RunStatus
from airflow_flowrun.validation import validate_uuid

if TYPE_CHECKING:
    from types import ModuleType

    from airflow_flowrun.connection import AepConnectionSettings
    from airflow_flowrun.triggers._poller import Subscription

log = logging.getLogger(__name__)

_POLLER_MODULE = "airflow_flowrun.triggers._poller"
#: Present in ``sys.modules`` in a triggerer's processes only (not in ``dag.test()`` or a worker).
_TRIGGERER_MODULE = "airflow.jobs.triggerer_job_runner"
_poller: ModuleType | None = None
_poller_imports: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[ModuleType]] = (
    weakref.WeakKeyDictionary()
)


async def _import_poller() -> ModuleType:
    """The poller module, imported off the event loop the first time.

    Not imported at module level: the operators import this module, and aiohttp (pulled in by the
    poller's hook) must not weigh on DAG parsing. Not imported in the coroutine either: the first
    import of aiohttp and the async hook takes a few hundred milliseconds, which would block the
    triggerer's loop (and every other trigger in it) for that long.
    """
    global _poller
    if _poller is not None:
        return _poller
    # The triggers that start together wait for one import and resume together, so that they still
    # share one connection lookup. (Not ``sys.modules``: it holds a module while another thread is
    # still executing it.)
    loop = asyncio.get_running_loop()
    pending = _poller_imports.get(loop)
    if pending is None:
        pending = _poller_imports[loop] = loop.create_task(asyncio.to_thread(_load_poller))
        pending.add_done_callback(lambda _: _poller_imports.pop(loop, None))
    _poller = await asyncio.shield(pending)
    return _poller


def _load_poller() -> ModuleType:
    """Import the poller (in a thread); in a triggerer, then freeze what the garbage collector sees.

    A triggerer's process carries Airflow's whole heap, several hundred thousand objects that live as
    long as the process. Every full collection walks them all on the event loop's thread: 0.15 to
    0.3 s there, over Airflow's 0.2 s "async thread was blocked" threshold, and a wait of ours sets
    one off every few poll cycles, as any trigger does whose waits allocate (each wait keeps a
    future and a summary for one poll interval, long enough to reach the oldest generation).
    ``gc.freeze()`` moves the objects alive now to a generation the collector never walks (what
    Airflow does itself before its dag processor and LocalExecutor fork): later collections walk
    only what came after. Once per process; ``[aep_flowrun] triggerer_gc_freeze = False`` turns it off.
    """
    from airflow_flowrun._compat import conf
    from airflow_flowrun.token_file import CONFIG_SECTION

    module = importlib.import_module(_POLLER_MODULE)
    if (
        _TRIGGERER_MODULE in sys.modules
        and gc.get_freeze_count() == 0
        and conf.getboolean(CONFIG_SECTION, "triggerer_gc_freeze", fallback=True)
    ):
        gc.freeze()
        log.info(
            "Froze the %d objects the triggerer holds at its first AEP trigger out of garbage collection, so "
            "that full collections stay short on its event loop ([%s] triggerer_gc_freeze)",
            gc.get_freeze_count(), CONFIG_SECTION,
        )  # fmt: skip
    return module


class AdobeFlowRunTrigger(BaseTrigger):
    """Wait for a Flow Service run to end; yield exactly one event saying how.

    Every trigger of one connection in a triggerer process shares one token and one poller that
    reads up to 100 runs per call (see :mod:`airflow_flowrun.triggers._poller`); each trigger keeps
    its own poll interval, deadline and outcome. The event payload is
    ``{"status": "success" | "failed" | "timeout" | "error", "run_id", "message", "flow_run", "fatal"}``
    where ``flow_run`` is the :func:`~airflow_flowrun.summary.build_summary` of the last run read (or
    None) and ``fatal`` says whether a retry could change the outcome; ``end_time`` and ``created_at``
    repeat the trigger's own, so a sensor waiting on after a silent failure keeps its deadline. An
    ``error`` event also carries ``error``, the fields of the exception met
    (:func:`~airflow_flowrun.exceptions.error_to_event`), so the worker raises the same exception a
    wait in the worker would have raised. A ``success`` can carry row errors: judging them is the
    operator's business.

    :param run_id: the flow run to wait for
    :param aep_conn_id: the ``aep`` connection
    :param poll_interval: seconds between two reads of the run's status
    :param end_time: epoch seconds after which the wait ends with a ``timeout`` event; None waits forever
    :param created_at: epoch seconds when the run was created: a 404 within 60 s of it means the run is
        not visible yet. None starts those 60 s when the trigger starts.
    :param not_before: epoch seconds before which the run is not read (a sensor waiting on after a
        silent failure reads again one poke interval later, not at once)
    :param stale_failure: after a re-trigger, ``{"completed_at"}`` of the failed attempt it replaced:
        that failure is not the outcome (see :func:`~airflow_flowrun.outcome.is_stale_failure`)
    """

    def __init__(
        self,
        run_id: str,
        aep_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 30.0,
        end_time: float | None = None,
        created_at: float | None = None,
        stale_failure: dict[str, Any] | None = None,
        not_before: float | None = None,
    ) -> None:
        super().__init__()
        self.run_id = validate_uuid("run_id", run_id)
        self.aep_conn_id = aep_conn_id
        self.poll_interval = _seconds("poll_interval", poll_interval, positive=True)
        self.end_time = None if end_time is None else _seconds("end_time", end_time)
        self.created_at = None if created_at is None else _seconds("created_at", created_at)
        self.not_before = None if not_before is None else _seconds("not_before", not_before)
        self.stale_failure = None if stale_failure is None else {"completed_at": stale_failure.get("completed_at")}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "run_id": self.run_id,
                "aep_conn_id": self.aep_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "created_at": self.created_at,
                "stale_failure": self.stale_failure,
                "not_before": self.not_before,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield TriggerEvent(await self.wait_for_outcome())

    async def wait_for_outcome(self) -> dict[str, Any]:
        """The event payload, once the run ended, the deadline passed or an error stopped the wait."""
        await sleep_until(self.not_before, self.end_time)
        try:
            subscription, settings = await subscribe(self.aep_conn_id, self.run_id, self.poll_interval)
        except AirflowException as err:
            return self._error_event(err, f"Cannot read connection {self.aep_conn_id!r}: {err}")
        try:
            return await self._watch(subscription, settings)
        finally:
            subscription.close()

    async def _watch(self, subscription: Subscription, settings: AepConnectionSettings) -> dict[str, Any]:
        created_at = self.created_at if self.created_at is not None else time.time()
        # The poller hands over the summary of each reading, never the run object itself: thousands
        # of waiting triggers each holding a whole run would cost several times the memory.
        summary: dict[str, Any] | None = None
        last_status: RunStatus | None = None
        while True:
            if self.end_time is not None and time.time() >= self.end_time:
                return self._timeout_event(summary, settings)
            try:
                async with asyncio.timeout(None if self.end_time is None else self.end_time - time.time()):
                    summary = await subscription.next_reading()
            except TimeoutError:
                continue  # the deadline check above turns this into the timeout event
            except FlowServiceError as err:
                if is_not_visible_yet(err, created_at):
                    self.log.info("Flow run %s is not visible yet; waiting for it", self.run_id)
                    continue
                return self._error_event(err, str(err), summary, settings)
            status = RunStatus.parse(summary["status"])
            if status is not last_status:
                self.log.info("Flow run %s is %s", self.run_id, summary["status"] or "without a status yet")
                last_status = status
            if status is RunStatus.SUCCESS:
                return self._event("success", f"Flow run {self.run_id} succeeded.", summary)
            if is_stale_failure(summary, self.stale_failure, created_at):
                continue  # the re-triggered attempt's old failure; the new attempt has not shown yet
            if status is RunStatus.FAILED:
                failure = FlowRunFailedError(self.run_id, summary["status"], summary["errors"], summary["ui_url"])
                return self._event("failed", str(failure), summary)

    def _timeout_event(self, summary: dict[str, Any] | None, settings: AepConnectionSettings) -> dict[str, Any]:
        if summary is None:
            last, link = None, flow_run_ui_url(settings.ui_org, settings.sandbox_name, "<flow id>", self.run_id)
        else:
            last, link = summary["status"], summary["ui_url"]
        return self._event("timeout", timeout_message(self.run_id, last, link), summary)

    def _error_event(
        self,
        err: Exception,
        message: str,
        summary: dict[str, Any] | None = None,
        settings: AepConnectionSettings | None = None,
    ) -> dict[str, Any]:
        error = scrubbed_error(err, settings)
        event = self._event("error", _without_secret(message, settings), summary, fatal=bool(error["fatal"]))
        return {**event, "error": error}

    def _event(
        self, status: str, message: str, summary: dict[str, Any] | None = None, *, fatal: bool = False
    ) -> dict[str, Any]:
        return {
            "status": status, "run_id": self.run_id, "message": message, "flow_run": summary, "fatal": fatal,
            "end_time": self.end_time, "created_at": self.created_at,
        }  # fmt: skip


async def sleep_until(not_before: float | None, end_time: float | None) -> None:
    """Wait until epoch seconds ``not_before`` (not past ``end_time``); at once when it is None."""
    if not_before is not None:
        until = not_before if end_time is None else min(not_before, end_time)
        await asyncio.sleep(max(0.0, until - time.time()))


async def subscribe(
    aep_conn_id: str, key: str, interval: float, *, flows: bool = False
) -> tuple[Subscription, AepConnectionSettings]:
    """Join the shared poller of a connection: the run poller, or with ``flows`` the flow poller.

    :param key: the run id (or flow id) to read every ``interval`` seconds
    :raises AirflowException: the connection cannot be read
    """
    poller = await _import_poller()
    settings = await poller.shared_settings(aep_conn_id)
    shared = poller.flow_poller_for(settings) if flows else poller.poller_for(settings)
    return shared.subscribe(key, interval), settings


def scrubbed_error(err: Exception, settings: AepConnectionSettings | None) -> dict[str, Any]:
    """The ``error`` of an event (:func:`~airflow_flowrun.exceptions.error_to_event`), the client secret masked."""
    return {
        key: _without_secret(value, settings) if isinstance(value, str) else value
        for key, value in error_to_event(err).items()
    }


def _seconds(param: str, value: Any, *, positive: bool = False) -> float:
    """A finite number of seconds (JSON-safe float), or an error naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidParameterError(param, value, "must be a finite number of seconds")
    if positive and value <= 0:
        raise InvalidParameterError(param, value, "must be greater than 0")
    return float(value)


def _without_secret(message: str, settings: AepConnectionSettings | None) -> str:
    """Error text from a server could echo what it was sent; the client secret never leaves in an event."""
    if settings is None or len(settings.client_secret) < 5:
        return message
    return message.replace(settings.client_secret, "***")
