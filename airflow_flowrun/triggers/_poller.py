"""The shared pollers of the triggers: runs read by id in batches, and flows' runs listed once per cycle.

Both are :class:`~airflow_flowrun.triggers._grid.GridPoller` s (see there for the grid of poll
intervals, the paced delivery and the registry per event loop).

:class:`RunPoller` serves :class:`~airflow_flowrun.triggers.flow_run.AdobeFlowRunTrigger`: instead
of one ``GET /runs/{id}`` per run per poll, it reads all runs that are due in calls of up to 100 ids
(``GET /runs?property=id==a,b,c``): N waiting triggers cost ceil(N/100) list calls per cycle. A run
the list does not return (a run created a moment ago may not be listed yet) is read on its own with
``GET /runs/{id}``. Each run read is condensed into its ``flow_run`` summary right away, in the same
turn of the loop as its page was decoded, and the page is dropped: the decoded pages (tens of
containers per run) then never live long enough for the garbage collector to move them to its
oldest generation, whose growth is what sets off a full collection. A full collection walks every
object of the triggerer process (Airflow's whole heap) on the loop thread, and takes longer than
Airflow's 0.2 s "blocked" threshold in a triggerer carrying a few hundred thousand objects.

:class:`FlowPoller` serves :class:`~airflow_flowrun.triggers.flow_window.AdobeFlowWindowTrigger`:
one listing of a flow's runs per cycle, however many tasks wait for windows of that flow, handed to
each of them as one shared, read-only list.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from airflow_flowrun.api import MAX_PAGE
from airflow_flowrun.connection import AepConnectionSettings
from airflow_flowrun.exceptions import FlowServiceFatalError
from airflow_flowrun.summary import build_summary
from airflow_flowrun.triggers._grid import (
    _POLLERS,
    DELIVERY_SLICE,
    GridPoller,
    Subscription,
    shared_poller,
    shared_settings,
)

__all__ = [
    "DELIVERY_SLICE",
    "_POLLERS",
    "FlowPoller",
    "RunPoller",
    "Subscription",
    "flow_poller_for",
    "poller_for",
    "shared_settings",
]

log = logging.getLogger(__name__)


class RunPoller(GridPoller):
    """Reads the runs of its subscriptions (keyed by run id) in batches; each reading is a run summary."""

    kind = "run"

    def __init__(self, settings: AepConnectionSettings) -> None:
        super().__init__(settings)
        #: False once the any-of list query was refused (a 4xx): runs are then read one by one.
        self._batched = True

    def _start_reads(self, due: list[Subscription]) -> None:
        by_run: dict[str, list[Subscription]] = {}
        for subscription in due:
            by_run.setdefault(subscription.key, []).append(subscription)
        run_ids = list(by_run)
        cycle_started = self._loop.time()
        for start in range(0, len(run_ids), MAX_PAGE):
            chunk = {run_id: by_run[run_id] for run_id in run_ids[start : start + MAX_PAGE]}
            self._track(self._read_chunk(chunk, cycle_started))

    async def _read_chunk(self, chunk: dict[str, list[Subscription]], cycle_started: float) -> None:
        runs: list[dict[str, Any]] = []
        if self._batched:
            try:
                runs = await self._hook.get_runs(list(chunk))
            except FlowServiceFatalError as err:
                if err.status in (401, 403):
                    self._settle_all(chunk.values(), err, cycle_started)
                    return
                self._batched = False
                log.warning("Listing runs by id was refused (%s); reading runs one by one from now on", err)
            except Exception as err:  # handed to every waiting trigger, which decides what it means
                self._settle_all(chunk.values(), err, cycle_started)
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
        reading: dict[str, Any] | Exception
        try:
            reading = self._summarize(await self._hook.get_run(run_id))
        except Exception as err:  # a 404 here may just mean "not visible yet": the trigger judges
            reading = err
        self._settle(subscriptions, reading, cycle_started)

    def _summarize(self, run: dict[str, Any]) -> dict[str, Any]:
        return build_summary(run, ui_org=self.settings.ui_org, sandbox_name=self.settings.sandbox_name)

    def _settle_all(
        self, groups: Iterable[list[Subscription]], reading: dict[str, Any] | Exception, cycle_started: float
    ) -> None:
        for subscriptions in groups:
            self._settle(subscriptions, reading, cycle_started)


class FlowPoller(GridPoller):
    """Lists the runs of each flow its subscriptions (keyed by flow id) wait on, once per cycle.

    Each reading is the list of the flow's run objects (every page), shared by all the flow's
    subscriptions of the cycle, or the error that prevented reading it.
    """

    kind = "flow"

    def _start_reads(self, due: list[Subscription]) -> None:
        by_flow: dict[str, list[Subscription]] = {}
        for subscription in due:
            by_flow.setdefault(subscription.key, []).append(subscription)
        cycle_started = self._loop.time()
        for flow_id, subscriptions in by_flow.items():
            self._track(self._list_flow(flow_id, subscriptions, cycle_started))

    async def _list_flow(self, flow_id: str, subscriptions: list[Subscription], cycle_started: float) -> None:
        reading: list[dict[str, Any]] | Exception
        try:
            reading = [run async for run in self._hook.list_runs(flow_id)]
        except Exception as err:  # handed to every waiting trigger, which decides what it means
            reading = err
        self._settle(subscriptions, reading, cycle_started)


def poller_for(settings: AepConnectionSettings) -> RunPoller:
    """The running loop's run poller for these connection settings, started on first use."""
    return shared_poller(RunPoller, settings)


def flow_poller_for(settings: AepConnectionSettings) -> FlowPoller:
    """The running loop's flow poller for these connection settings, started on first use."""
    return shared_poller(FlowPoller, settings)
