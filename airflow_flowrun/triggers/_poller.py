"""The batched run poller shared by every :class:`AdobeFlowRunTrigger` of one connection in one event loop.

Thousands of deferred tasks can wait in one triggerer. Instead of one ``GET /runs/{id}`` per run per
poll, the triggers of a connection subscribe to one :class:`RunPoller`, which reads all runs that are
due in calls of up to 100 ids (``GET /runs?property=id==a,b,c``) through one async hook — one
keep-alive session, one token — and hands each subscription its run. A run the list does not
return (a run created a moment ago may not be listed yet) is read on its own with ``GET /runs/{id}``.

Reads happen on a grid of each subscription's poll interval (``k * poll_interval`` on the loop's
clock), so all subscriptions with the same interval are read in the same cycle whenever they joined:
N subscriptions cost ceil(N/100) list calls per cycle, and a run that ends is seen within one
interval. A new subscription is read at once (or at the next grid time if that is near), then joins
the grid.

Each run read is condensed into its ``flow_run`` summary right away, in the same turn of the loop
as its page was decoded, and the page is dropped: the decoded pages (tens of containers per run)
then never live long enough for the garbage collector to move them to its oldest generation, whose
growth is what sets off a full collection. A full collection walks every object of the triggerer
process (Airflow's whole heap) on the loop thread, and takes longer than Airflow's 0.2 s
"blocked" threshold in a triggerer carrying a few hundred thousand objects.

The readings of a cycle reach the triggers :data:`DELIVERY_SLICE` at a time, one slice per turn of
the event loop: a thousand triggers woken in one turn would stall the loop for a few hundred
milliseconds (Airflow's triggerer warns about a blocked loop above 0.2 s), while slices keep it
turning for every other trigger.

Pollers live in a registry per event loop (``dag.test()`` runs each trigger in a loop of its own); a
poller stops, and closes its session, as soon as its last subscription closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import weakref
from collections import deque
from typing import Any

from airflow_flowrun.api import MAX_PAGE
from airflow_flowrun.connection import AepConnectionSettings
from airflow_flowrun.exceptions import FlowServiceError, FlowServiceFatalError
from airflow_flowrun.hooks.flow_service_async import AdobeFlowServiceAsyncHook
from airflow_flowrun.summary import build_summary

log = logging.getLogger(__name__)

#: Seconds a timer may fire before its time on the loop's clock; a grid time this close counts as due.
CLOCK_TOLERANCE = 0.001

#: Readings handed to triggers per turn of the event loop.
DELIVERY_SLICE = 50

#: What a read hands a subscription: the run's ``flow_run`` summary, or the error that prevented reading it.
Reading = dict[str, Any] | Exception


class Subscription:
    """One trigger's interest in one run: the poller delivers each reading, the trigger awaits them.

    A reading the trigger has not picked up yet is replaced by a newer one; the trigger always sees
    the latest state of its run.
    """

    __slots__ = ("_poller", "_reading", "_waiter", "active", "interval", "run_id")

    def __init__(self, poller: RunPoller, run_id: str, interval: float) -> None:
        self._poller = poller
        self.run_id = run_id
        self.interval = interval
        self.active = True
        self._reading: Reading | None = None
        self._waiter: asyncio.Future[dict[str, Any]] | None = None

    async def next_reading(self) -> dict[str, Any]:
        """The run's :func:`~airflow_flowrun.summary.build_summary` from the poller's next read of it.

        :raises FlowServiceError: the read failed (retries exhausted, or an answer no retry can change)
        """
        reading, self._reading = self._reading, None
        if reading is None:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                return await self._waiter
            finally:
                self._waiter = None
        if isinstance(reading, Exception):
            raise reading
        return reading

    def deliver(self, reading: Reading) -> None:
        """Hand the trigger a reading (called by the poller)."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            self._reading = reading
        elif isinstance(reading, Exception):
            waiter.set_exception(reading)
        else:
            waiter.set_result(reading)

    def close(self) -> None:
        """Leave the poller; the last subscription to leave stops it. Safe to call twice."""
        if self.active:
            self.active = False
            self._poller.unsubscribe(self)


class RunPoller:
    """Reads the runs of its subscriptions in batches, on one hook of one connection.

    Create it with :func:`poller_for`, never directly: the registry makes it shared.
    """

    def __init__(self, settings: AepConnectionSettings) -> None:
        self.settings = settings
        self.stopping = False
        self._hook = AdobeFlowServiceAsyncHook(settings.conn_id, settings=settings)
        self._loop = asyncio.get_running_loop()
        self._subscriptions: set[Subscription] = set()
        #: Subscriptions to read at once (new ones), and the others by the grid time they are due.
        self._now: list[Subscription] = []
        self._grid: dict[float, list[Subscription]] = {}
        self._wake_at = math.inf
        self._wakeup = asyncio.Event()
        self._reads: set[asyncio.Task[None]] = set()
        #: False once the any-of list query was refused (a 4xx): runs are then read one by one.
        self._batched = True
        #: Readings waiting to be handed over, and the task handing them over a slice at a time.
        self._deliveries: deque[tuple[Subscription, Reading]] = deque()
        self._delivering: asyncio.Task[None] | None = None
        self._task = self._loop.create_task(self._run(), name=f"aep-run-poller[{settings.conn_id}]")

    def subscribe(self, run_id: str, interval: float) -> Subscription:
        """Start reading ``run_id`` on the grid of ``interval``.

        The first read happens at once, unless the next grid time is at most half an interval away:
        then it waits for it, so that a run is never read twice within half an interval.
        """
        subscription = Subscription(self, run_id, interval)
        self._subscriptions.add(subscription)
        now = self._loop.time()
        due = _next_grid_time(now, interval)
        if due - now > interval / 2:
            self._now.append(subscription)
            self._wakeup.set()
        else:
            self._schedule(subscription, due)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a subscription (see :meth:`Subscription.close`); stop with the last one."""
        self._subscriptions.discard(subscription)
        if not self._subscriptions:
            self._stop()

    def _stop(self) -> None:
        self.stopping = True
        pollers = _POLLERS.get(self._loop)
        if pollers is not None and pollers.get(self.settings) is self:
            del pollers[self.settings]
        self._wakeup.set()

    async def _run(self) -> None:
        try:
            while not self.stopping:
                due = self._take_due(self._loop.time())
                if due:
                    self._start_reads(due)
                self._wake_at = min(self._grid, default=math.inf)
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(None if self._wake_at == math.inf else self._wake_at):
                        await self._wakeup.wait()
        finally:
            self._stop()
            reads = list(self._reads)
            if self._delivering is not None:
                reads.append(self._delivering)
            for read in reads:
                read.cancel()
            try:
                await asyncio.gather(*reads, return_exceptions=True)
            finally:  # also when the loop is going away and cancels this task while the reads wind down
                # Normally no one is left; if the loop itself is going away, tell whoever still waits.
                stopped = FlowServiceError(f"the run poller of connection {self.settings.conn_id!r} stopped")
                for subscription in self._subscriptions:
                    subscription.deliver(stopped)
                await self._hook.close()

    def _take_due(self, now: float) -> list[Subscription]:
        due, self._now = self._now, []
        for at in [at for at in self._grid if at <= now + CLOCK_TOLERANCE]:
            due += self._grid.pop(at)
        return [subscription for subscription in due if subscription.active]

    def _start_reads(self, due: list[Subscription]) -> None:
        by_run: dict[str, list[Subscription]] = {}
        for subscription in due:
            by_run.setdefault(subscription.run_id, []).append(subscription)
        run_ids = list(by_run)
        cycle_started = self._loop.time()
        for start in range(0, len(run_ids), MAX_PAGE):
            chunk = {run_id: by_run[run_id] for run_id in run_ids[start : start + MAX_PAGE]}
            read = self._loop.create_task(self._read_chunk(chunk, cycle_started))
            self._reads.add(read)
            read.add_done_callback(self._reads.discard)

    async def _read_chunk(self, chunk: dict[str, list[Subscription]], cycle_started: float) -> None:
        runs: list[dict[str, Any]] = []
        if self._batched:
            try:
                runs = await self._hook.get_runs(list(chunk))
            except FlowServiceFatalError as err:
                if err.status in (401, 403):
                    self._settle_all(chunk, err, cycle_started)
                    return
                self._batched = False
                log.warning("Listing runs by id was refused (%s); reading runs one by one from now on", err)
            except Exception as err:  # handed to every waiting trigger, which decides what it means
                self._settle_all(chunk, err, cycle_started)
                return
        unlisted = set(chunk)
        for run in runs:
            run_id = str(run.get("id", "")).lower()
            if run_id in unlisted:
                unlisted.discard(run_id)
                self._settle(chunk[run_id], self._summarize(run), cycle_started)
        del runs  # the decoded page goes before the next await (see the module docstring)
        if unlisted:
            await asyncio.gather(*(self._read_one(run_id, chunk[run_id], cycle_started) for run_id in unlisted))

    async def _read_one(self, run_id: str, subscriptions: list[Subscription], cycle_started: float) -> None:
        reading: Reading
        try:
            reading = self._summarize(await self._hook.get_run(run_id))
        except Exception as err:  # a 404 here may just mean "not visible yet": the trigger judges
            reading = err
        self._settle(subscriptions, reading, cycle_started)

    def _summarize(self, run: dict[str, Any]) -> dict[str, Any]:
        return build_summary(run, ui_org=self.settings.ui_org, sandbox_name=self.settings.sandbox_name)

    def _settle_all(self, chunk: dict[str, list[Subscription]], reading: Reading, cycle_started: float) -> None:
        for subscriptions in chunk.values():
            self._settle(subscriptions, reading, cycle_started)

    def _settle(self, subscriptions: list[Subscription], reading: Reading, cycle_started: float) -> None:
        """Queue a reading for delivery and put each subscription on its next grid time.

        That is the first grid time after the cycle started, not after this read ended, so that the
        chunks of one cycle stay in one cycle however long each took; a read that outlasted that grid
        time goes to the next one to come.
        """
        now = self._loop.time()
        for subscription in subscriptions:
            if subscription.active:
                self._deliveries.append((subscription, reading))
                due = _next_grid_time(cycle_started, subscription.interval)
                self._schedule(subscription, due if due > now else _next_grid_time(now, subscription.interval))
        if self._deliveries and self._delivering is None:
            self._delivering = self._loop.create_task(self._deliver())

    async def _deliver(self) -> None:
        """Hand the queued readings over, :data:`DELIVERY_SLICE` per turn of the loop."""
        try:
            while self._deliveries:
                for _ in range(min(DELIVERY_SLICE, len(self._deliveries))):
                    subscription, reading = self._deliveries.popleft()
                    if subscription.active:
                        subscription.deliver(reading)
                await asyncio.sleep(0)  # the triggers just woken run before the next slice wakes
        finally:
            self._delivering = None

    def _schedule(self, subscription: Subscription, due: float) -> None:
        self._grid.setdefault(due, []).append(subscription)
        if due < self._wake_at:
            self._wake_at = due
            self._wakeup.set()


def _next_grid_time(now: float, interval: float) -> float:
    """The first multiple of ``interval`` after ``now`` on the loop's clock."""
    return (math.floor(now / interval) + 1) * interval


_POLLERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[AepConnectionSettings, RunPoller]] = (
    weakref.WeakKeyDictionary()
)
_SETTINGS_LOOKUPS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Task[AepConnectionSettings]]
] = weakref.WeakKeyDictionary()


def poller_for(settings: AepConnectionSettings) -> RunPoller:
    """The running loop's poller for these connection settings, started on first use."""
    pollers = _POLLERS.setdefault(asyncio.get_running_loop(), {})
    poller = pollers.get(settings)
    if poller is None:
        poller = pollers[settings] = RunPoller(settings)
    return poller


async def shared_settings(conn_id: str) -> AepConnectionSettings:
    """Read a connection's settings, sharing one lookup among the triggers that ask at the same time.

    A triggerer that (re)starts thousands of triggers of one connection makes one lookup, not
    thousands; a trigger arriving later reads the connection afresh, so changed credentials apply.
    """
    lookups = _SETTINGS_LOOKUPS.setdefault(asyncio.get_running_loop(), {})
    lookup = lookups.get(conn_id)
    if lookup is None:
        lookup = lookups[conn_id] = asyncio.get_running_loop().create_task(
            AdobeFlowServiceAsyncHook(conn_id).settings()
        )
        lookup.add_done_callback(lambda done: _forget_lookup(lookups, conn_id, done))
    return await asyncio.shield(lookup)


def _forget_lookup(
    lookups: dict[str, asyncio.Task[AepConnectionSettings]], conn_id: str, done: asyncio.Task[AepConnectionSettings]
) -> None:
    if lookups.get(conn_id) is done:
        del lookups[conn_id]
    if not done.cancelled():
        done.exception()  # retrieved here so that a lookup nobody awaits any more logs no warning
