"""What every shared poller of the triggers does: a grid of poll intervals, subscriptions, paced delivery.

Thousands of deferred tasks can wait in one triggerer. Instead of each trigger reading Flow Service
on its own, the triggers of one connection subscribe to a shared poller, which reads what is due
through one async hook (one keep-alive session, one token) and hands each subscription its
reading. :class:`~airflow_flowrun.triggers._poller.RunPoller` reads runs by id, 100 a call;
:class:`~airflow_flowrun.triggers._poller.FlowPoller` lists a flow's runs once for every trigger
waiting on that flow.

Reads happen on a grid of each subscription's poll interval (``k * poll_interval`` on the loop's
clock), so all subscriptions with the same interval are read in the same cycle whenever they joined,
and what they wait for is seen within one interval. A new subscription is read at once (or at the
next grid time if that is near), then joins the grid.

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
import math
import weakref
from collections import deque
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar, cast

from airflow_flowrun.connection import AepConnectionSettings
from airflow_flowrun.exceptions import FlowServiceError
from airflow_flowrun.hooks.flow_service_async import AdobeFlowServiceAsyncHook

#: Seconds a timer may fire before its time on the loop's clock; a grid time this close counts as due.
CLOCK_TOLERANCE = 0.001

#: Readings handed to triggers per turn of the event loop.
DELIVERY_SLICE = 50


class Subscription:
    """One trigger's interest in one thing a poller reads (a run, a flow's runs).

    The poller delivers each reading, the trigger awaits them. A reading the trigger has not picked
    up yet is replaced by a newer one; the trigger always sees the latest state of what it waits for.

    :param key: what is read for it: a run id, a flow id
    """

    __slots__ = ("_poller", "_reading", "_waiter", "active", "interval", "key")

    def __init__(self, poller: GridPoller, key: str, interval: float) -> None:
        self._poller = poller
        self.key = key
        self.interval = interval
        self.active = True
        self._reading: Any = None  # never a reading itself
        self._waiter: asyncio.Future[Any] | None = None

    async def next_reading(self) -> Any:
        """The poller's next reading for this subscription (what depends on the poller).

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

    def deliver(self, reading: Any) -> None:
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


class GridPoller:
    """Reads what its subscriptions wait for on a grid of their poll intervals, on one hook of one connection.

    Subclasses say how one cycle reads (:meth:`_start_reads`) and hand each subscription its reading
    with :meth:`_settle`. Create them with :func:`shared_poller`, never directly: the registry makes
    them shared.
    """

    #: Names the poller's task and its errors.
    kind = "grid"

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
        #: Readings waiting to be handed over, and the task handing them over a slice at a time.
        self._deliveries: deque[tuple[Subscription, Any]] = deque()
        self._delivering: asyncio.Task[None] | None = None
        self._task = self._loop.create_task(self._run(), name=f"aep-{self.kind}-poller[{settings.conn_id}]")

    def subscribe(self, key: str, interval: float) -> Subscription:
        """Start reading ``key`` on the grid of ``interval``.

        The first read happens at once, unless the next grid time is at most half an interval away:
        then it waits for it, so that nothing is read twice within half an interval.
        """
        subscription = Subscription(self, key, interval)
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
        key = (type(self), self.settings)
        if pollers is not None and pollers.get(key) is self:
            del pollers[key]
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
                stopped = FlowServiceError(f"the {self.kind} poller of connection {self.settings.conn_id!r} stopped")
                for subscription in self._subscriptions:
                    subscription.deliver(stopped)
                await self._hook.close()

    def _take_due(self, now: float) -> list[Subscription]:
        due, self._now = self._now, []
        for at in [at for at in self._grid if at <= now + CLOCK_TOLERANCE]:
            due += self._grid.pop(at)
        return [subscription for subscription in due if subscription.active]

    def _start_reads(self, due: list[Subscription]) -> None:
        """Start the reads of one cycle for the subscriptions ``due`` (with :meth:`_track`)."""
        raise NotImplementedError

    def _track(self, read: Coroutine[Any, Any, None]) -> None:
        """Run one read of this cycle as a task the poller cancels when it stops."""
        task = self._loop.create_task(read)
        self._reads.add(task)
        task.add_done_callback(self._reads.discard)

    def _settle(self, subscriptions: Iterable[Subscription], reading: Any, cycle_started: float) -> None:
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


_POLLERS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[type[GridPoller], AepConnectionSettings], GridPoller]
] = weakref.WeakKeyDictionary()
_SETTINGS_LOOKUPS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, asyncio.Task[AepConnectionSettings]]
] = weakref.WeakKeyDictionary()


P = TypeVar("P", bound=GridPoller)


def shared_poller(cls: type[P], settings: AepConnectionSettings) -> P:
    """The running loop's poller of class ``cls`` for these connection settings, started on first use."""
    pollers = _POLLERS.setdefault(asyncio.get_running_loop(), {})
    poller = pollers.get((cls, settings))
    if poller is None:
        poller = pollers[(cls, settings)] = cls(settings)
    return cast(P, poller)


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
