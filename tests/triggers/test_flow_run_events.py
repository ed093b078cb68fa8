"""AdobeFlowRunEventTrigger against the emulator over real loopback HTTP: one event per run that newly
ended, kept across restarts in an asset state store (or in memory), with one narrowed listing per poll."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_flowrun.api import CLOCK_SKEW_MS
from airflow_flowrun.emulator import FAILING_FLOW_ID, FILE_FLOW_ID, ORG_ID, RECURRING_FLOW_ID, SANDBOX
from airflow_flowrun.exceptions import InvalidParameterError
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.summary import build_summary
from airflow_flowrun.triggers import flow_run_events
from airflow_flowrun.triggers.flow_run_events import AdobeFlowRunEventTrigger
from airflow_flowrun.triggers.run_cursor import RunCursor

POLL = 0.2
RUN_DURATION = 0.3


class StateStore:
    """What Airflow >= 3.3's triggerer gives a watcher as ``asset_state_store`` (``aget``/``aset``), over a
    dict; values go through JSON, as they do through the metadata database."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.dumps(value)

    def cursor(self) -> dict[str, Any]:
        (value,) = self.values.values()
        return json.loads(value)


class SeveralAssetsStore(StateStore):
    """The store of a trigger serving several assets: Airflow's single-asset shortcuts refuse."""

    async def aget(self, key: str, default: Any = None) -> Any:
        raise ValueError("Task has 2 concrete inlets and outlets")


class Watch:
    """A watcher's ``run()`` in a task of the test's event loop, its event payloads collected as they fire."""

    def __init__(self, trigger: AdobeFlowRunEventTrigger, store: StateStore | None = None) -> None:
        trigger.asset_state_store = store
        self.trigger = trigger
        self.events: list[dict[str, Any]] = []
        self._task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        async for event in self.trigger.run():
            self.events.append(event.payload)

    async def until(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The events once there are ``count`` of them."""
        await _eventually(lambda: len(self.events) >= count or self._task.done(), timeout)
        if self._task.done():
            self._task.result()
        return self.events

    async def stop(self) -> None:
        """Cancel ``run()``, as a triggerer shutting down does."""
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task


async def _eventually(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        await asyncio.sleep(0.02)


def run_test(test: Callable[[], Any], timeout: float = 60.0) -> Any:
    return asyncio.run(asyncio.wait_for(test(), timeout))


@pytest.fixture(autouse=True)
def memory_cursors():
    """Each test starts with no position kept in this process's memory (the fallback store)."""
    flow_run_events._MEMORY_CURSORS.clear()
    yield flow_run_events._MEMORY_CURSORS
    flow_run_events._MEMORY_CURSORS.clear()


@pytest.fixture
def flows(emulator):
    """The emulator with short runs of the file flow (success) and the failing flow."""
    for flow_id in (FILE_FLOW_ID, FAILING_FLOW_ID):
        emulator.configure_flow(flow_id, duration=RUN_DURATION)
    return emulator


@pytest.fixture
def make_run(flows, token_cache):
    """``await make_run(flow_id)``: a run created through the sync hook (off the loop); returns its id."""
    hook = AdobeFlowServiceHook()
    windows = iter(range(10_000))

    async def make(flow_id: str) -> str:
        end = int(time.time()) // 3600 * 3600 - next(windows) * 3600
        run = await asyncio.to_thread(hook.create_run, flow_id, window_start=end - 3600, window_end=end)
        return str(run["id"])

    return make


def listings(emulator, flow_id: str) -> list[Any]:
    """The emulator's recorded listings of ``flow_id``'s runs (``GET /runs?property=flowId==...``)."""
    return [
        request
        for request in emulator.requests
        if request.method == "GET"
        and request.path.endswith("/runs")
        and ("property", f"flowId=={flow_id}") in request.params
    ]


async def listed(emulator, flow_id: str, count: int, timeout: float = 10.0) -> None:
    """Wait until the watcher answered ``count`` more listings of the flow than there are now."""

    def answered() -> int:
        return sum(1 for request in listings(emulator, flow_id) if request.status == 200)

    target = answered() + count
    await _eventually(lambda: answered() >= target, timeout)


async def ended(emulator, run_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The emulator's view of a run once it has finished."""

    def view() -> dict[str, Any] | None:
        runs = [run for run in emulator.runs() if run["id"] == run_id]
        return runs[0] if runs and runs[0]["metrics"]["statusSummary"]["status"] in ("success", "failed") else None

    await _eventually(lambda: view() is not None, timeout)
    return view() or {}


def summary_of(emulator, run_id: str) -> dict[str, Any]:
    (run,) = [run for run in emulator.runs() if run["id"] == run_id]
    return build_summary(run, ui_org=ORG_ID, sandbox_name=SANDBOX)


def test_each_run_that_ends_fires_one_event_with_its_summary(flows, make_run):
    async def scenario() -> list[dict[str, Any]]:
        watch = Watch(AdobeFlowRunEventTrigger(FILE_FLOW_ID, poll_interval=POLL), StateStore())
        await listed(flows, FILE_FLOW_ID, 1)
        first = await make_run(FILE_FLOW_ID)
        second = await make_run(FILE_FLOW_ID)
        events = await watch.until(2)
        await listed(flows, FILE_FLOW_ID, 3)
        await watch.stop()
        assert [event["run_id"] for event in events] == [first, second]
        return events

    events = run_test(scenario)
    for event in events:
        assert event == summary_of(flows, event["run_id"])
        assert event["status"] == "success"
        assert event["completed_at"].endswith("Z")
        assert event["ui_url"].endswith(f"/dataflows/{FILE_FLOW_ID}/activity/{event['run_id']}")
        json.dumps(event)


def test_runs_finished_before_the_first_start_never_fire(flows, make_run):
    async def scenario() -> None:
        earlier = await make_run(FILE_FLOW_ID)
        await ended(flows, earlier)
        watch = Watch(AdobeFlowRunEventTrigger(FILE_FLOW_ID, poll_interval=POLL), StateStore())
        await listed(flows, FILE_FLOW_ID, 4)
        assert watch.events == []
        later = await make_run(FILE_FLOW_ID)
        events = await watch.until(1)
        await listed(flows, FILE_FLOW_ID, 3)
        await watch.stop()
        assert [event["run_id"] for event in events] == [later]

    run_test(scenario)


def test_statuses_choose_which_endings_fire(flows, make_run):
    async def scenario() -> None:
        failed_only = Watch(AdobeFlowRunEventTrigger(FILE_FLOW_ID, statuses=["failed"], poll_interval=POLL))
        both = Watch(AdobeFlowRunEventTrigger(FILE_FLOW_ID, statuses=("SUCCESS", "Failed"), poll_interval=POLL))
        await listed(flows, FILE_FLOW_ID, 2)
        succeeded = await make_run(FILE_FLOW_ID)
        await ended(flows, succeeded)
        flows.configure_flow(FILE_FLOW_ID, outcome="failed")
        failed = await make_run(FILE_FLOW_ID)
        await both.until(2)
        await failed_only.until(1)
        await listed(flows, FILE_FLOW_ID, 4)
        await failed_only.stop()
        await both.stop()
        assert [(e["run_id"], e["status"]) for e in both.events] == [(succeeded, "success"), (failed, "failed")]
        assert [(e["run_id"], e["status"]) for e in failed_only.events] == [(failed, "failed")]
        assert failed_only.events[0]["errors"], "a failed run's event carries its errors"

    run_test(scenario)


def test_a_failed_run_re_triggered_in_aep_fires_again_when_it_succeeds(flows, make_run):
    flows.configure_flow(FILE_FLOW_ID, fail_first=1)

    async def scenario() -> None:
        watch = Watch(AdobeFlowRunEventTrigger(FILE_FLOW_ID, statuses=["success", "failed"], poll_interval=POLL))
        await listed(flows, FILE_FLOW_ID, 1)
        run_id = await make_run(FILE_FLOW_ID)
        await watch.until(1)
        await asyncio.to_thread(AdobeFlowServiceHook().retrigger_run, run_id)
        events = await watch.until(2)
        await listed(flows, FILE_FLOW_ID, 3)
        await watch.stop()
        assert [(e["run_id"], e["status"]) for e in events] == [(run_id, "failed"), (run_id, "success")]
        assert events[0]["completed_at"] < events[1]["completed_at"]

    run_test(scenario)


def test_the_position_stays_small_however_many_runs_end():
    """Only the runs that ended within the clock-skew margin of the newest end are remembered."""
    cursor = RunCursor(watermark_ms=1_000_000)
    fired: list[str] = []
    for minute in range(60):
        end = 1_000_000 + minute * 10_000
        run = {"id": f"run-{minute}", "updatedAt": end, "metrics": {"statusSummary": {"status": "success"}}}
        new, cursor = cursor.advance([run])
        again, cursor = cursor.advance([run])
        fired += [r["id"] for r in new + again]
    assert fired == [f"run-{minute}" for minute in range(60)]
    assert len(cursor.seen) == CLOCK_SKEW_MS // 10_000
    assert cursor.listed_since_ms == 1_000_000 + 59 * 10_000 - CLOCK_SKEW_MS
    assert RunCursor.parse(json.loads(json.dumps(cursor.to_json()))) == cursor
    assert RunCursor.parse({"watermark": "yesterday"}) is None


def test_restart_with_the_state_store_neither_loses_nor_repeats_runs(flows, make_run, monkeypatch):
    monkeypatch.setattr(AdobeFlowRunEventTrigger, "cursor_save_delay", 0.1)
    store = StateStore()

    async def scenario() -> None:
        first_watch = Watch(AdobeFlowRunEventTrigger(FAILING_FLOW_ID, statuses="failed", poll_interval=POLL), store)
        await listed(flows, FAILING_FLOW_ID, 1)
        before = await make_run(FAILING_FLOW_ID)
        await first_watch.until(1)
        await _eventually(lambda: before in store.cursor()["seen"], 5)
        await first_watch.stop()

        while_down = await make_run(FAILING_FLOW_ID)
        await ended(flows, while_down)
        second_watch = Watch(AdobeFlowRunEventTrigger(FAILING_FLOW_ID, statuses="failed", poll_interval=POLL), store)
        await second_watch.until(1)
        after = await make_run(FAILING_FLOW_ID)
        await second_watch.until(2)
        await listed(flows, FAILING_FLOW_ID, 3)
        await second_watch.stop()

        assert [e["run_id"] for e in first_watch.events] == [before]
        assert [e["run_id"] for e in second_watch.events] == [while_down, after]

    run_test(scenario)


def test_restart_before_the_position_is_stored_fires_the_runs_again(flows, make_run, monkeypatch):
    """At least once: a triggerer stopped before the events reached its database must not lose them."""
    monkeypatch.setattr(AdobeFlowRunEventTrigger, "cursor_save_delay", 30.0)
    store = StateStore()

    async def scenario() -> None:
        first_watch = Watch(AdobeFlowRunEventTrigger(FILE_FLOW_ID, poll_interval=POLL), store)
        await listed(flows, FILE_FLOW_ID, 1)
        run_id = await make_run(FILE_FLOW_ID)
        await first_watch.until(1)
        await first_watch.stop()
        assert store.cursor()["seen"] == {}, "the position covering the event is not stored yet"

        second_watch = Watch(AdobeFlowRunEventTrigger(FILE_FLOW_ID, poll_interval=POLL), store)
        await second_watch.until(1)
        await second_watch.stop()
        assert [e["run_id"] for e in first_watch.events + second_watch.events] == [run_id, run_id]

    run_test(scenario)


def test_without_a_state_store_the_position_is_kept_in_memory_across_restarts(flows, make_run, capsys):
    async def scenario() -> None:
        first_watch = Watch(AdobeFlowRunEventTrigger(FILE_FLOW_ID, poll_interval=POLL))
        await listed(flows, FILE_FLOW_ID, 1)
        before = await make_run(FILE_FLOW_ID)
        await first_watch.until(1)
        await first_watch.stop()

        while_down = await make_run(FILE_FLOW_ID)
        await ended(flows, while_down)
        second_watch = Watch(AdobeFlowRunEventTrigger(FILE_FLOW_ID, poll_interval=POLL))
        await second_watch.until(1)
        await listed(flows, FILE_FLOW_ID, 3)
        await second_watch.stop()

        assert [e["run_id"] for e in first_watch.events] == [before]
        assert [e["run_id"] for e in second_watch.events] == [while_down]

    run_test(scenario)
    out = capsys.readouterr().out
    assert out.count("No asset state store for this watcher") == 2, "one line per start says so"
    assert "stays in memory" in out


def test_a_watcher_serving_several_assets_keeps_its_position_in_memory(flows, make_run, capsys, memory_cursors):
    async def scenario() -> str:
        watch = Watch(AdobeFlowRunEventTrigger(FILE_FLOW_ID, poll_interval=POLL), SeveralAssetsStore())
        await listed(flows, FILE_FLOW_ID, 1)
        run_id = await make_run(FILE_FLOW_ID)
        await watch.until(1)
        await listed(flows, FILE_FLOW_ID, 1)
        await watch.stop()
        assert [e["run_id"] for e in watch.events] == [run_id]
        return run_id

    run_id = run_test(scenario)
    assert "serves several assets" in capsys.readouterr().out
    (cursor,) = memory_cursors.values()
    assert list(cursor["seen"]) == [run_id]


def test_each_poll_is_one_listing_narrowed_to_runs_updated_since_the_position(flows, make_run, monkeypatch):
    monkeypatch.setattr(AdobeFlowRunEventTrigger, "cursor_save_delay", 0.0)

    async def scenario() -> tuple[float, float, str]:
        started = time.time()
        watch = Watch(AdobeFlowRunEventTrigger(FILE_FLOW_ID, poll_interval=0.5), StateStore())
        await listed(flows, FILE_FLOW_ID, 1)
        run_id = await make_run(FILE_FLOW_ID)
        await watch.until(1)
        await listed(flows, FILE_FLOW_ID, 2)
        await watch.stop()
        return started, time.time(), run_id

    started, stopped, run_id = run_test(scenario)
    requests = listings(flows, FILE_FLOW_ID)
    bounds = [
        int(value.removeprefix("updatedAt>")) for r in requests for name, value in r.params if "updatedAt>" in value
    ]
    assert len(bounds) == len(requests), "every listing is narrowed by updatedAt"
    assert int(started * 1000) - CLOCK_SKEW_MS <= bounds[0] <= int(stopped * 1000) - CLOCK_SKEW_MS
    (run,) = [run for run in flows.runs() if run["id"] == run_id]
    ended_ms = run["metrics"]["durationSummary"]["completedAtUTC"]
    assert bounds[-1] == ended_ms - CLOCK_SKEW_MS, "after the run ended, listings start from its end"
    assert len(requests) <= (stopped - started) / 0.5 + 2, "one listing per poll interval"
    assert all(r.status == 200 for r in requests)


def test_a_failing_listing_is_logged_and_polling_goes_on(flows, make_run, capsys):
    async def scenario() -> list[dict[str, Any]]:
        watch = Watch(AdobeFlowRunEventTrigger(FILE_FLOW_ID, poll_interval=POLL), StateStore())
        await listed(flows, FILE_FLOW_ID, 1)
        flows.inject("status", status=503, method="GET", path="/runs$", max_count=4)
        run_id = await make_run(FILE_FLOW_ID)
        events = await watch.until(1)
        await watch.stop()
        assert [e["run_id"] for e in events] == [run_id]
        return events

    run_test(scenario)
    assert flows.faults_injected["status"] == 4, "one poll's listing and its three retries failed"
    assert f"Could not list the runs of flow {FILE_FLOW_ID}" in capsys.readouterr().out


def test_refused_credentials_are_retried_slowly_with_the_connection_read_again(flows, make_run, monkeypatch, capsys):
    right = flows.connection
    wrong = json.loads(right)
    wrong["password"] = "wrong-secret-value-123"
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", json.dumps(wrong))

    async def scenario() -> None:
        watch = Watch(AdobeFlowRunEventTrigger(FILE_FLOW_ID, poll_interval=POLL), StateStore())
        await asyncio.sleep(2.5)
        token_requests = flows.token_requests
        assert 2 <= token_requests <= 4, f"waits of 0.4, 0.8, 1.6 s between attempts, not {token_requests} in 2.5 s"
        monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", right)
        await _eventually(lambda: listings(flows, FILE_FLOW_ID) != [], 5)
        run_id = await make_run(FILE_FLOW_ID)
        events = await watch.until(1)
        await watch.stop()
        assert [e["run_id"] for e in events] == [run_id]

    run_test(scenario)
    out = capsys.readouterr().out
    assert f"Flow Service refuses to list the runs of flow {FILE_FLOW_ID}" in out
    assert "wrong-secret-value-123" not in out


def example_module() -> Any:
    """``example_dags/example_aep_event_trigger.py``, imported as the DAG processor does."""
    path = Path(__file__).resolve().parents[2] / "example_dags" / "example_aep_event_trigger.py"
    spec = importlib.util.spec_from_file_location("example_aep_event_trigger", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_dag_runs_on_each_scheduled_run_of_its_flow_across_a_restart(flows, monkeypatch):
    """The example's watcher (at a test's poll interval) on a flow AEP runs itself every second: each
    run fires once, a restart in between loses and repeats none, and the example's task reads them."""
    monkeypatch.setattr(AdobeFlowRunEventTrigger, "cursor_save_delay", 0.1)
    example = example_module()
    (watcher,) = example.CRM_SYNC_INGESTED.watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == f"{AdobeFlowRunEventTrigger.__module__}.AdobeFlowRunEventTrigger"
    assert kwargs["flow_id"] == RECURRING_FLOW_ID
    assert example.dag.timetable.asset_condition.objects == (example.CRM_SYNC_INGESTED,)
    flows.configure_flow(RECURRING_FLOW_ID, duration=RUN_DURATION)
    store = StateStore()

    def watch() -> Watch:
        return Watch(AdobeFlowRunEventTrigger(**{**kwargs, "poll_interval": POLL}), store)

    async def scenario() -> list[dict[str, Any]]:
        first_watch = watch()
        await listed(flows, RECURRING_FLOW_ID, 1)
        flows.schedule_flow(RECURRING_FLOW_ID, every=1)
        await first_watch.until(2)
        await asyncio.sleep(0.3)  # the position covering both is stored
        await first_watch.stop()
        await asyncio.sleep(1.5)  # at least one scheduled run ends while no watcher runs
        second_watch = watch()
        await second_watch.until(2)
        flows.unschedule_flow(RECURRING_FLOW_ID)
        made = len(flows.runs(RECURRING_FLOW_ID))
        await _eventually(lambda: len(first_watch.events) + len(second_watch.events) >= made, 10)
        await listed(flows, RECURRING_FLOW_ID, 3)
        await second_watch.stop()
        return first_watch.events + second_watch.events

    events = run_test(scenario)
    runs = flows.runs(RECURRING_FLOW_ID)
    assert [event["run_id"] for event in events] == [run["id"] for run in runs], "each scheduled run fired once"
    assert [event["window_end"] for event in events[:-1]] == [event["window_start"] for event in events[1:]]
    assert events == [summary_of(flows, run["id"]) for run in runs]

    # Keyed by the asset's name: the task reads only the events (and Airflow 3.1 cannot hash a watched Asset).
    events_of_asset = [SimpleNamespace(extra={"from_trigger": True, "payload": event}) for event in events]
    landed = {example.CRM_SYNC_INGESTED.name: events_of_asset}
    reported = example.report_ingested_runs.function(triggering_asset_events=landed)
    assert reported == [{field: event[field] for field in example.ESSENTIALS} for event in events]


def test_kwargs_are_json_safe_normalised_and_deterministic():
    trigger = AdobeFlowRunEventTrigger(FILE_FLOW_ID.upper(), statuses=["SUCCESS", "failed", "success"], poll_interval=5)
    classpath, kwargs = trigger.serialize()

    assert classpath == "airflow_flowrun.triggers.flow_run_events.AdobeFlowRunEventTrigger"
    assert kwargs == {"flow_id": FILE_FLOW_ID, "aep_conn_id": "aep_default", "statuses": ["failed", "success"],
                      "poll_interval": 5.0}  # fmt: skip
    assert json.loads(json.dumps(kwargs)) == kwargs
    rebuilt = AdobeFlowRunEventTrigger(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    time.sleep(0.01)
    again = AdobeFlowRunEventTrigger(FILE_FLOW_ID, statuses=("failed", "success"), poll_interval=5.0)
    assert again.serialize() == (classpath, kwargs)
    assert AdobeFlowRunEventTrigger.hash(classpath, kwargs) == AdobeFlowRunEventTrigger.hash(*again.serialize())
    assert AdobeFlowRunEventTrigger(FILE_FLOW_ID).serialize()[1]["statuses"] == ["success"]


@pytest.mark.parametrize(
    ("kwargs", "param", "shown"),
    [
        ({"flow_id": "not-a-flow"}, "flow_id", "'not-a-flow'"),
        ({"flow_id": None}, "flow_id", "None"),
        ({"statuses": []}, "statuses", "[]"),
        ({"statuses": ("success", "inProgress")}, "statuses", "'inProgress'"),
        ({"statuses": ["done"]}, "statuses", "'done'"),
        ({"statuses": 5}, "statuses", "5"),
        ({"poll_interval": 0}, "poll_interval", "0"),
        ({"poll_interval": -1.5}, "poll_interval", "-1.5"),
        ({"poll_interval": "60"}, "poll_interval", "'60'"),
        ({"poll_interval": True}, "poll_interval", "True"),
        ({"aep_conn_id": ""}, "aep_conn_id", "''"),
    ],
)
def test_bad_arguments_are_refused_naming_parameter_and_value_before_any_call(emulator, kwargs, param, shown):
    arguments = {"flow_id": FILE_FLOW_ID, **kwargs}
    with pytest.raises(InvalidParameterError) as raised:
        AdobeFlowRunEventTrigger(**arguments)
    assert raised.value.param == param
    assert str(raised.value).startswith(f"{param}=")
    assert shown in str(raised.value)
    assert emulator.requests == []
