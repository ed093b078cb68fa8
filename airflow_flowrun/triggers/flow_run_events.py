"""An event trigger for data-aware scheduling: one event each time a run of a flow ends.

Many AEP dataflows run on AEP's own schedule, so no DAG holds their run ids. Watching the flow
instead starts a DAG whenever AEP has ingested, whoever started the run (AEP's schedule, the UI,
another DAG)::

    landed = Asset("crm_contacts_landed", watchers=[
        AssetWatcher(name="crm_contacts_runs", trigger=AdobeFlowRunEventTrigger(flow_id="<dataflow id>")),
    ])

    with DAG("after_crm_ingestion", schedule=[landed]): ...

The module is imported where such a DAG file is parsed: it imports neither aiohttp nor the async
hook (that happens in a worker thread when the trigger first runs).
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_flowrun.connection import DEFAULT_CONN_ID
from airflow_flowrun.exceptions import InvalidParameterError
from airflow_flowrun.retry import is_retryable
from airflow_flowrun.status import RunStatus
from airflow_flowrun.summary import build_summary
from airflow_flowrun.triggers.flow_run import _without_secret
from airflow_flowrun.triggers.run_cursor import RunCursor
from airflow_flowrun.validation import validate_positive, validate_uuid

if TYPE_CHECKING:
    from airflow_flowrun.connection import AepConnectionSettings
    from airflow_flowrun.hooks.flow_service_async import AdobeFlowServiceAsyncHook

_HOOK_MODULE = "airflow_flowrun.hooks.flow_service_async"
#: Statuses a watcher can fire on: the terminal ones.
TERMINAL_STATUSES = tuple(status for status in RunStatus if status.is_terminal())
#: Longest wait between two attempts while Flow Service refuses the watcher (bad credentials, ...),
#: unless the poll interval is longer.
FATAL_RETRY_MAX = 900.0
#: Where watchers without an asset state store keep their cursor, by serialized kwargs: it survives a
#: restart of ``run()`` in this process (Airflow restarts a watcher that returned), not of the process.
_MEMORY_CURSORS: dict[str, dict[str, Any]] = {}


async def _async_hook_class() -> type[AdobeFlowServiceAsyncHook]:
    """The async hook class, imported in a worker thread: its first import (aiohttp with it) takes a
    few hundred milliseconds that would otherwise block the triggerer's loop and every trigger in it."""
    module = await asyncio.to_thread(importlib.import_module, _HOOK_MODULE)
    hook_class: type[AdobeFlowServiceAsyncHook] = module.AdobeFlowServiceAsyncHook
    return hook_class


class AdobeFlowRunEventTrigger(BaseEventTrigger):
    """Watch one dataflow; fire one event per run of it that newly ended in one of ``statuses``.

    For ``AssetWatcher``: a DAG scheduled on the watched asset then runs once per such run, and
    finds the run's :func:`~airflow_flowrun.summary.build_summary` (the ``flow_run`` summary the
    operators push) in ``triggering_asset_events[asset][i].extra["payload"]``. Only runs that end
    after the watcher first started fire: those already finished then are the baseline, never fired.
    It fires on a run's change to a watched status, never on "the flow's last run is a success",
    which would schedule the DAG forever. A failed run re-triggered in AEP that then succeeds fires
    again (it newly reached ``success``).

    Each poll is one listing of the flow's runs, narrowed to those updated since the watcher's
    position (minus :data:`~airflow_flowrun.api.CLOCK_SKEW_MS`). The position (:class:`RunCursor`: a
    watermark and the runs that ended near it) is kept in the watched asset's state store on
    Airflow >= 3.3, so a triggerer restart neither loses runs nor fires them again; runs that end
    while no triggerer runs the watcher fire after it starts again. Airflow 3.1 and 3.2 have no such
    store: the position is kept in memory (the log says so at each start), runs that end while the
    triggerer is down are not fired and a restart starts a new baseline. The same holds when one
    watcher serves several assets (identical arguments on each: Airflow runs one trigger for them,
    with no store); give each a different ``poll_interval`` to keep them apart.

    Delivery is at least once, as for every watcher: the triggerer writes an event to its database
    a moment after it is fired, so the stored position moves :attr:`cursor_save_delay` seconds after
    the events it covers. A triggerer killed in between fires those runs again when it restarts;
    the run id in the payload lets a DAG recognise a repeat.

    Failed listings are logged and tried again at the next poll (each listing already retries as the
    hooks do). An answer no retry can change (bad credentials, a flow that does not exist, a
    connection that is missing or invalid) is logged as an error and tried again with the connection
    read anew, after a wait that doubles up to :data:`FATAL_RETRY_MAX`: the watcher never returns
    (Airflow would only restart it at once).

    :param flow_id: the dataflow to watch
    :param aep_conn_id: the ``aep`` connection
    :param statuses: the final statuses that fire an event: ``"success"`` and/or ``"failed"``
        (any case; a single string is one status)
    :param poll_interval: seconds between two listings of the flow's runs
    """

    #: Seconds between firing events and storing the position that covers them (see above): longer than
    #: the triggerer takes to write events to its database (about a second). The next listing waits too.
    cursor_save_delay = 5.0

    def __init__(
        self,
        flow_id: str,
        aep_conn_id: str = DEFAULT_CONN_ID,
        statuses: Iterable[str] | str = ("success",),
        poll_interval: float = 60.0,
    ) -> None:
        super().__init__()
        self.flow_id = validate_uuid("flow_id", flow_id)
        if not isinstance(aep_conn_id, str) or not aep_conn_id.strip():
            raise InvalidParameterError("aep_conn_id", aep_conn_id, "must be the id of an 'aep' connection")
        self.aep_conn_id = aep_conn_id
        self.statuses = _terminal_statuses(statuses)
        self.poll_interval = validate_positive("poll_interval", poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "flow_id": self.flow_id,
                "aep_conn_id": self.aep_conn_id,
                "statuses": [status.value for status in self.statuses],
                "poll_interval": self.poll_interval,
            },
        )

    @property
    def cursor_key(self) -> str:
        """The watcher's key in the asset state store: watchers of one flow with other statuses keep apart."""
        statuses = ",".join(status.value for status in self.statuses)
        return f"aep_flow_run_events/{self.flow_id}/{self.aep_conn_id}/{statuses}"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook_class = await _async_hook_class()
        store, cursor = await self._open_cursor()
        if cursor is None:
            cursor = RunCursor.first()
            await self._save_cursor(store, cursor, after_events=False)
        self.log.info(
            "Watching the runs of flow %s for %s, every %g s, from %s",
            self.flow_id, "/".join(self.statuses), self.poll_interval, cursor.describe(),
        )  # fmt: skip
        hook = hook_class(self.aep_conn_id)
        known: AepConnectionSettings | None = None  # to keep the client secret out of logged errors
        refusals = 0
        loop = asyncio.get_running_loop()
        try:
            while True:
                next_poll = loop.time() + self.poll_interval
                try:
                    settings = known = await hook.settings()
                    since = f"updatedAt>{cursor.listed_since_ms}"
                    runs = [run async for run in hook.list_runs(self.flow_id, properties=[since])]
                except AirflowException as err:
                    if is_retryable(err):
                        self.log.warning(
                            "Could not list the runs of flow %s (%s); trying again at the next poll",
                            self.flow_id, _without_secret(str(err), known),
                        )  # fmt: skip
                    else:
                        refusals += 1
                        next_poll = loop.time() + min(self.poll_interval * 2**refusals, self._longest_wait)
                        self.log.error(
                            "Flow Service refuses to list the runs of flow %s, and will until the connection %r "
                            "or the flow is fixed: %s. Reading the connection again in %g s",
                            self.flow_id, self.aep_conn_id, _without_secret(str(err), known),
                            next_poll - loop.time(),
                        )  # fmt: skip
                        await hook.close()
                        hook = hook_class(self.aep_conn_id)
                    await asyncio.sleep(max(0.0, next_poll - loop.time()))
                    continue
                refusals = 0
                ended, advanced = cursor.advance(runs)
                fired = [run for run in ended if RunStatus.of_run(run) in self.statuses]
                for run in fired:
                    summary = build_summary(run, ui_org=settings.ui_org, sandbox_name=settings.sandbox_name)
                    self.log.info("Flow run %s of flow %s ended %s", summary["run_id"], self.flow_id, summary["status"])
                    yield TriggerEvent(summary)
                if advanced != cursor:
                    cursor = advanced
                    await self._save_cursor(store, cursor, after_events=bool(fired))
                await asyncio.sleep(max(0.0, next_poll - loop.time()))
        finally:
            await hook.close()

    async def _open_cursor(self) -> tuple[Any | None, RunCursor | None]:
        """The asset state store to keep the cursor in (None: memory, logged) and the cursor kept so far."""
        store = getattr(self, "asset_state_store", None)  # injected by Airflow >= 3.3's triggerer
        if store is None:
            self.log.warning(
                "No asset state store for this watcher (Airflow < 3.3, or not run by a triggerer for an asset): its "
                "position in the runs of flow %s stays in memory. A triggerer restart loses it: runs that end while "
                "the triggerer is down do not fire.",
                self.flow_id,
            )
            return None, self._parsed(_MEMORY_CURSORS.get(self._memory_key))
        try:
            stored = await store.aget(self.cursor_key)
        except ValueError:  # the store's shortcuts serve one asset only, and this trigger serves several
            self.log.warning(
                "This watcher of flow %s serves several assets (the same arguments on each), and Airflow keeps an "
                "asset state store for a single one: its position stays in memory, and a triggerer restart loses "
                "it. Give each asset's watcher a different poll_interval to keep it in the store.",
                self.flow_id,
            )
            return None, self._parsed(_MEMORY_CURSORS.get(self._memory_key))
        return store, self._parsed(stored)

    def _parsed(self, stored: Any) -> RunCursor | None:
        if stored is None:
            return None
        cursor = RunCursor.parse(stored)
        if cursor is None:
            self.log.warning("Ignoring an unreadable stored position for flow %s: %r", self.flow_id, stored)
        return cursor

    async def _save_cursor(self, store: Any | None, cursor: RunCursor, *, after_events: bool) -> None:
        if store is None:
            _MEMORY_CURSORS[self._memory_key] = cursor.to_json()
            return
        if after_events:
            await asyncio.sleep(self.cursor_save_delay)
        await store.aset(self.cursor_key, cursor.to_json())

    @property
    def _longest_wait(self) -> float:
        return max(FATAL_RETRY_MAX, self.poll_interval)

    @property
    def _memory_key(self) -> str:
        return json.dumps(self.serialize()[1], sort_keys=True)


def _terminal_statuses(statuses: Any) -> tuple[RunStatus, ...]:
    """The statuses to fire on, checked and normalised (sorted, no repeats) so that kwargs are deterministic."""
    values = [statuses] if isinstance(statuses, str) else statuses
    if not isinstance(values, Iterable) or isinstance(values, dict):
        raise InvalidParameterError("statuses", statuses, "must be a list of statuses such as ('success', 'failed')")
    parsed = set()
    for value in values:
        status = RunStatus.parse(value)
        if not status.is_terminal():
            allowed = ", ".join(repr(s.value) for s in TERMINAL_STATUSES)
            raise InvalidParameterError("statuses", statuses, f"{value!r} is not a final run status; use {allowed}")
        parsed.add(status)
    if not parsed:
        raise InvalidParameterError("statuses", statuses, "must name at least one status such as 'success'")
    return tuple(sorted(parsed))
