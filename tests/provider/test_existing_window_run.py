"""``on_existing_window_run``: a run for the window from elsewhere is created anyway, reused, or fails the task.

Runs "from elsewhere" (another DAG run, another DAG, the AEP UI) are made over HTTP with the hook's
``create_run``, or with the emulator's ``add_run`` when they date from days ago; the DAGs run
through ``dag.test()`` against the emulator, in each waiting mode.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG, Asset
from airflow.timetables.interval import CronDataIntervalTimetable
from dagtest import dagbag_api, task_states, xcom
from tries import DictStore

from airflow_flowrun.emulator import FILE_FLOW_ID, TABLE_FLOW_ID
from airflow_flowrun.exceptions import InvalidParameterError
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.operators.flow_run import AdobeFileFlowRunOperator, AdobeTableFlowRunOperator
from airflow_flowrun.submission import RunSubmitter, Submission, mark_finished

DAY = datetime(2026, 11, 27, tzinfo=UTC)
WINDOW = (int(DAY.timestamp()), int(DAY.timestamp()) + 3600)
MODES = {"sync": {}, "deferrable": {"deferrable": True}, "no_wait": {"wait_for_completion": False}}

pytestmark = pytest.mark.usefixtures("warm_dag_test")


def ingest_dag(dag_id: str, mode: str, window: tuple[int, int] = WINDOW, **op_kwargs: Any) -> DAG:
    with DAG(dag_id, schedule=None, start_date=DAY, catchup=False) as dag:
        AdobeFileFlowRunOperator(
            task_id="ingest", flow_id=FILE_FLOW_ID, window_start=window[0], window_end=window[1], poll_interval=0.2,
            retry_delay=timedelta(0), **MODES[mode], **op_kwargs,
        )  # fmt: skip
    return dag


def run_from_elsewhere(emu, *, duration: float = 0.0, window: tuple[int, int] = WINDOW) -> str:
    """A run of the file flow for ``window`` that no task made, as the AEP UI would; 0 s: it has already succeeded."""
    emu.configure_flow(FILE_FLOW_ID, duration=duration)
    run_id = AdobeFlowServiceHook().create_run(FILE_FLOW_ID, window_start=window[0], window_end=window[1])["id"]
    emu.configure_flow(FILE_FLOW_ID, duration=0.5)  # the task's own runs, if any
    return run_id


def failed_run_from_elsewhere(emu) -> str:
    emu.configure_flow(FILE_FLOW_ID, fail_first=1)
    run_id = run_from_elsewhere(emu)
    assert status_of(emu, run_id) == "failed"
    return run_id


def status_of(emu, run_id: str) -> str:
    (run,) = [run for run in emu.runs(FILE_FLOW_ID) if run["id"] == run_id]
    return run["metrics"]["statusSummary"]["status"]


def flow_posts(emu) -> list[Any]:
    return [r for r in emu.requests if r.method == "POST" and r.path.endswith("/runs")]


def tries_spent(dag_run) -> int:
    (ti,) = dag_run.get_task_instances()
    return ti.try_number


def asset_events(dag_run) -> list[dict[str, Any]]:
    """The ``extra`` of every asset event the DAG run's tasks emitted."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(AssetEvent).filter_by(source_dag_id=dag_run.dag_id, source_run_id=dag_run.run_id)
        return [dict(row.extra) for row in rows]


@pytest.mark.parametrize("mode", MODES)
def test_reuse_takes_a_succeeded_run_without_creating_one(emu, run_dag, mode, capfd):
    existing = run_from_elsewhere(emu)
    dag = ingest_dag(f"reuse_succeeded_{mode}", mode, on_existing_window_run="reuse", outlets=[Asset(f"landed_{mode}")])
    dag_run = run_dag(dag, logical_date=None)

    assert task_states(dag_run) == {"ingest": "success"}
    assert len(flow_posts(emu)) == 1, "only the run from elsewhere was created"
    assert xcom(dag_run, "ingest") == existing
    assert xcom(dag_run, "ingest", "_link_AdobeFlowRunLink").endswith(f"/activity/{existing}")
    (event,) = asset_events(dag_run)
    assert event["run_id"] == existing
    summary = xcom(dag_run, "ingest", "flow_run")
    if mode == "no_wait":
        assert summary is None
    else:
        assert (summary["run_id"], summary["status"]) == (existing, "success")
        assert summary["output_records"] == event["output_records"] > 0
    assert f"Flow run {existing} (reused)" in capfd.readouterr().out


@pytest.mark.parametrize("mode", MODES)
def test_reuse_waits_for_an_active_run_and_reports_it(emu, run_dag, mode, capfd):
    existing = run_from_elsewhere(emu, duration=8.0)  # still in progress however slowly dag.test() starts
    dag_run = run_dag(ingest_dag(f"reuse_active_{mode}", mode, on_existing_window_run="reuse"), logical_date=None)

    assert task_states(dag_run) == {"ingest": "success"}
    assert len(flow_posts(emu)) == 1
    assert xcom(dag_run, "ingest") == existing
    assert f"Reusing flow run {existing} (status inProgress)" in capfd.readouterr().out
    if mode != "no_wait":  # it waited for that run to end
        summary = xcom(dag_run, "ingest", "flow_run")
        assert (summary["run_id"], summary["status"]) == (existing, "success")


def test_reuse_takes_the_newest_active_or_succeeded_run_whenever_it_was_made(emu, run_dag):
    days_ago = time.time() - 7 * 86400  # e.g. from the AEP UI, long before this DAG run
    add = partial(emu.add_run, FILE_FLOW_ID, window_start=WINDOW[0], window_end=WINDOW[1], duration=0)
    add(created_at=days_ago, outcome="success")
    newest_succeeded = add(created_at=days_ago + 60, outcome="success")["id"]
    add(created_at=days_ago + 120, outcome="failed")
    dag_run = run_dag(ingest_dag("reuse_newest", "sync", on_existing_window_run="reuse"), logical_date=None)

    assert task_states(dag_run) == {"ingest": "success"}
    assert flow_posts(emu) == []
    assert xcom(dag_run, "ingest") == newest_succeeded
    assert xcom(dag_run, "ingest", "flow_run")["run_id"] == newest_succeeded


@pytest.mark.parametrize("mode", MODES)
def test_reuse_creates_a_run_when_the_windows_runs_all_failed(emu, run_dag, mode):
    failed = failed_run_from_elsewhere(emu)
    dag_run = run_dag(ingest_dag(f"reuse_failed_{mode}", mode, on_existing_window_run="reuse"), logical_date=None)

    assert task_states(dag_run) == {"ingest": "success"}
    assert len(flow_posts(emu)) == 2
    created = xcom(dag_run, "ingest")
    assert created != failed
    assert {run["id"] for run in emu.runs(FILE_FLOW_ID)} == {failed, created}
    if mode != "no_wait":
        assert xcom(dag_run, "ingest", "flow_run")["status"] == "success"


@pytest.mark.parametrize("mode", MODES)
def test_fail_names_the_existing_run_without_spending_retries(emu, run_dag, mode, capfd):
    existing = run_from_elsewhere(emu)
    dag = ingest_dag(f"fail_existing_{mode}", mode, on_existing_window_run="fail", retries=2)
    dag_run = run_dag(dag, logical_date=None)

    assert task_states(dag_run) == {"ingest": "failed"}
    assert tries_spent(dag_run) == 1
    assert len(flow_posts(emu)) == 1
    out = capfd.readouterr().out
    assert "ExistingWindowRunError" in out
    assert f"Flow run {existing} (status 'success') already exists for window [{WINDOW[0]}, {WINDOW[1]})" in out
    assert f"/dataflows/{FILE_FLOW_ID}/activity/{existing}" in out


def test_fail_counts_a_run_still_in_progress(emu, run_dag, capfd):
    existing = run_from_elsewhere(emu, duration=30.0)
    dag_run = run_dag(ingest_dag("fail_active", "sync", on_existing_window_run="fail"), logical_date=None)

    assert task_states(dag_run) == {"ingest": "failed"}
    assert f"Flow run {existing} (status 'inProgress') already exists" in capfd.readouterr().out
    assert len(flow_posts(emu)) == 1


def test_fail_ignores_failed_runs_and_creates_one(emu, run_dag):
    failed_run_from_elsewhere(emu)
    dag_run = run_dag(ingest_dag("fail_only_failed", "sync", on_existing_window_run="fail"), logical_date=None)

    assert task_states(dag_run) == {"ingest": "success"}
    assert len(flow_posts(emu)) == 2


@pytest.mark.parametrize("mode", MODES)
def test_create_by_default_makes_a_second_run(emu, run_dag, mode):
    existing = run_from_elsewhere(emu)
    dag_run = run_dag(ingest_dag(f"create_default_{mode}", mode), logical_date=None)

    assert task_states(dag_run) == {"ingest": "success"}
    assert len(flow_posts(emu)) == 2
    assert xcom(dag_run, "ingest") not in (None, existing)


@pytest.mark.parametrize("choice", ["reuse", "fail"])
def test_a_run_for_another_window_does_not_count(emu, run_dag, choice):
    run_from_elsewhere(emu, window=(WINDOW[0], WINDOW[1] + 3600))  # covers this window, but is not for exactly it
    run_from_elsewhere(emu, window=(WINDOW[0] - 3600, WINDOW[1] - 3600))
    dag_run = run_dag(ingest_dag(f"other_window_{choice}", "sync", on_existing_window_run=choice), logical_date=None)

    assert task_states(dag_run) == {"ingest": "success"}
    assert len(flow_posts(emu)) == 3


def test_a_second_dag_on_the_flow_reuses_the_first_dags_run_for_the_data_interval(emu, run_dag):
    def daily_dag(dag_id: str, **op_kwargs: Any) -> DAG:
        schedule = CronDataIntervalTimetable("@daily", timezone="UTC")
        with DAG(dag_id, schedule=schedule, start_date=DAY - timedelta(days=3), catchup=False) as dag:
            AdobeTableFlowRunOperator(
                task_id="ingest", flow_id=TABLE_FLOW_ID, delta_column="updated_at", poll_interval=0.2, **op_kwargs
            )
        return dag

    first = run_dag(daily_dag("crm_profiles"), logical_date=DAY)
    second = run_dag(daily_dag("crm_events", on_existing_window_run="reuse"), logical_date=DAY)

    assert task_states(first) == task_states(second) == {"ingest": "success"}
    (run,) = emu.runs(TABLE_FLOW_ID)
    assert xcom(first, "ingest") == xcom(second, "ingest") == run["id"]
    assert xcom(second, "ingest", "flow_run")["run_id"] == run["id"]


# -- the task's own earlier tries: the exactly-once rules decide, whatever on_existing_window_run says --


def submit(store: DictStore, choice: str, *, max_tries: int = 1) -> Submission:
    """One try of a task's submission with ``on_existing_window_run=choice`` (see :mod:`tries`)."""
    hook = AdobeFlowServiceHook()
    context = {
        "task_state_store": store,
        "dag_run": SimpleNamespace(start_date=datetime.now(UTC) - timedelta(minutes=5)),
        "ti": SimpleNamespace(try_number=2, max_tries=max_tries),
    }
    submitter = RunSubmitter(
        hook, context, flow_id=FILE_FLOW_ID, window_start=WINDOW[0], window_end=WINDOW[1], log=logging.getLogger("t")
    )
    return submitter.obtain(
        lambda earlier_runs: hook.create_run(
            FILE_FLOW_ID, window_start=WINDOW[0], window_end=WINDOW[1], earlier_runs=earlier_runs
        ),
        on_existing_window_run=choice,
    )


@pytest.mark.parametrize("choice", ["reuse", "fail"])
def test_clearing_a_succeeded_task_ingests_again_whatever_the_choice(emu, choice):
    store = DictStore()
    first = submit(store, choice, max_tries=1)
    mark_finished(store, first.run_id, max_tries=1)  # the try succeeded
    again = submit(store, choice, max_tries=3)  # the user cleared the task to re-ingest

    assert (first.how, again.how) == ("created", "created")
    assert len(emu.runs(FILE_FLOW_ID)) == 2


def test_a_reused_run_is_the_tasks_own_for_its_later_tries(emu):
    existing = run_from_elsewhere(emu)
    store = DictStore()
    first = submit(store, "reuse")
    retry = submit(store, "reuse")  # the first try died before it finished
    mark_finished(store, retry.run_id, max_tries=1)
    cleared = submit(store, "reuse", max_tries=3)

    assert (first.run_id, first.how) == (existing, "reused")
    assert (retry.run_id, retry.how) == (existing, "reattached")
    assert cleared.how == "created"  # a re-ingest: the run it reused before is its own now
    assert store.values["aep_flow_run"]["run_ids"] == sorted([existing, cleared.run_id])


def without_store(monkeypatch) -> None:
    """Run the submitter as on Airflow < 3.3, where the context has no ``task_state_store``."""
    original = RunSubmitter.__init__

    def init(self, hook, context, **kwargs):
        original(self, hook, {key: value for key, value in context.items() if key != "task_state_store"}, **kwargs)

    monkeypatch.setattr(RunSubmitter, "__init__", init)


@pytest.mark.parametrize("store", ["task_state_store", "lookup"])
def test_a_retry_after_a_try_that_died_re_attaches_to_its_own_run_under_fail(emu, run_dag, monkeypatch, store):
    if store == "lookup":
        without_store(monkeypatch)
    emu.configure_flow(FILE_FLOW_ID, duration=1.0)
    # every status read of the first try fails until its retries are spent; the second try takes its run back
    emu.inject("status", status=500, method="GET", path=r"/runs/[0-9a-f-]+$", max_count=6)
    dag = ingest_dag(f"fail_own_retry_{store}", "sync", on_existing_window_run="fail", retries=1)
    dag_run = run_dag(dag, logical_date=None)

    assert task_states(dag_run) == {"ingest": "success"}
    assert tries_spent(dag_run) == 2
    assert len(flow_posts(emu)) == 1


# -- bad input --


@pytest.mark.parametrize("operator_cls", [AdobeFileFlowRunOperator, AdobeTableFlowRunOperator])
def test_an_unknown_choice_is_refused_by_both_operators(operator_cls):
    flow_id = FILE_FLOW_ID if operator_cls is AdobeFileFlowRunOperator else TABLE_FLOW_ID
    with pytest.raises(InvalidParameterError, match=r"on_existing_window_run='Reuse': must be one of 'create'"):
        operator_cls(task_id="ingest", flow_id=flow_id, on_existing_window_run="Reuse")


def test_an_unknown_choice_fails_when_the_dag_file_is_parsed(tmp_path: Path, airflow_db):
    (tmp_path / "bad_choice.py").write_text(
        "from airflow.sdk import DAG\n"
        "from airflow_flowrun.operators.flow_run import AdobeFileFlowRunOperator\n"
        "with DAG('bad_choice', schedule=None):\n"
        f"    AdobeFileFlowRunOperator(task_id='ingest', flow_id={FILE_FLOW_ID!r}, on_existing_window_run='skip')\n"
    )
    dagbag_cls, _ = dagbag_api()
    bag = dagbag_cls(dag_folder=str(tmp_path))

    assert bag.dags == {}
    (error,) = bag.import_errors.values()
    assert "on_existing_window_run='skip'" in error


def trigger_reads(emu, run_id: str) -> list[Any]:
    """The trigger's batched status reads of ``run_id`` (the worker reads a run with ``GET /runs/{id}``)."""
    return [r for r in emu.requests if ("property", f"id=={run_id}") in r.params]


def test_a_deferrable_task_taking_over_a_finished_run_ends_in_the_worker_without_deferring(emu, run_dag):
    """A finished run is judged at once: deferring it would only make the trigger fire at once, which
    Airflow's scheduler can race (apache/airflow#67287) and fail the resumed task."""
    existing = run_from_elsewhere(emu)
    dag_run = run_dag(ingest_dag("reuse_finished_deferrable", "deferrable", on_existing_window_run="reuse"),
                      logical_date=None)  # fmt: skip
    assert task_states(dag_run) == {"ingest": "success"}
    assert xcom(dag_run, "ingest", "flow_run")["run_id"] == existing
    assert trigger_reads(emu, existing) == []


def test_a_deferrable_task_taking_over_a_running_run_still_defers(emu, run_dag):
    existing = run_from_elsewhere(emu, duration=8.0)  # still in progress when the task defers
    dag_run = run_dag(ingest_dag("reuse_running_deferrable", "deferrable", on_existing_window_run="reuse"),
                      logical_date=None)  # fmt: skip
    assert task_states(dag_run) == {"ingest": "success"}
    assert xcom(dag_run, "ingest", "flow_run")["run_id"] == existing
    assert trigger_reads(emu, existing)
