"""Exactly one run per window: retries re-attach or adopt, failed runs are replaced, clears re-ingest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable
from dagtest import task_states, xcom
from tries import DictStore, submit_once

from airflow_flowrun.emulator import FILE_FLOW_ID
from airflow_flowrun.operators.flow_run import AdobeFileFlowRunOperator
from airflow_flowrun.submission import RunSubmitter, mark_finished

DAY = datetime(2026, 11, 27, tzinfo=UTC)


def file_dag(dag_id: str, **op_kwargs) -> DAG:
    schedule = CronDataIntervalTimetable("@daily", timezone="UTC")
    with DAG(dag_id, schedule=schedule, start_date=DAY - timedelta(days=3), catchup=False) as dag:
        AdobeFileFlowRunOperator(
            task_id="ingest", flow_id=FILE_FLOW_ID, poll_interval=0.2, retry_delay=timedelta(0), **op_kwargs
        )
    return dag


def statuses(emu) -> list[str]:
    return [run["metrics"]["statusSummary"]["status"] for run in emu.runs(FILE_FLOW_ID)]


def test_failed_run_is_replaced_by_a_new_run_on_retry(emu, run_dag):
    emu.configure_flow(FILE_FLOW_ID, fail_first=1)
    dag_run = run_dag(file_dag("replace_failed", retries=1), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "success"}
    assert sorted(statuses(emu)) == ["failed", "success"]


def test_failed_run_is_retriggered_when_asked(emu, run_dag):
    emu.configure_flow(FILE_FLOW_ID, fail_first=1)
    dag_run = run_dag(file_dag("retrigger_failed", retries=1, retrigger_failed_run=True), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "success"}
    assert statuses(emu) == ["success"]
    (run,) = emu.runs(FILE_FLOW_ID)
    assert xcom(dag_run, "ingest") == run["id"]
    assert any(r.path.endswith(f"/runs/{run['id']}/action") for r in emu.requests)


def test_try_that_died_between_submit_and_persist_adopts_its_run(emu, run_dag, monkeypatch):
    original = RunSubmitter._remember
    calls = []

    def die_once(self, submission):
        calls.append(submission.how)
        if len(calls) == 1:
            raise RuntimeError("worker died before the run id was stored")
        return original(self, submission)

    monkeypatch.setattr(RunSubmitter, "_remember", die_once)
    dag_run = run_dag(file_dag("died_before_persist", retries=1), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "success"}
    assert calls == ["created", "adopted"]
    assert len(emu.runs(FILE_FLOW_ID)) == 1


def without_store(monkeypatch) -> None:
    """Run the submitter as on Airflow < 3.3, where the context has no ``task_state_store``."""
    original = RunSubmitter.__init__

    def init(self, hook, context, **kwargs):
        original(self, hook, {key: value for key, value in context.items() if key != "task_state_store"}, **kwargs)

    monkeypatch.setattr(RunSubmitter, "__init__", init)


def test_without_a_task_state_store_the_retry_adopts_by_lookup(emu, run_dag, monkeypatch):
    without_store(monkeypatch)
    emu.inject("status", status=500, method="GET", path=r"/runs/[0-9a-f-]+$", max_count=6)
    dag_run = run_dag(file_dag("no_store", retries=1), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "success"}
    assert len(emu.runs(FILE_FLOW_ID)) == 1


WINDOW = (int(DAY.timestamp()), int(DAY.timestamp()) + 3600)


def submit(store, started: datetime, max_tries: int | None = None):
    return submit_once(store, started, FILE_FLOW_ID, WINDOW, max_tries=max_tries)


def test_clearing_a_succeeded_task_ingests_the_window_again(emu):
    store, started = DictStore(), datetime.now(UTC) - timedelta(minutes=5)
    first = submit(store, started, max_tries=1)
    mark_finished(store, first.run_id, max_tries=1)  # the try succeeded
    again = submit(store, started, max_tries=3)  # the user cleared the task: Airflow raised max_tries
    assert (first.how, again.how) == ("created", "created")
    assert len(emu.runs(FILE_FLOW_ID)) == 2


def test_a_finished_record_from_before_max_tries_was_kept_still_means_cleared(emu):
    store, started = DictStore(), datetime.now(UTC) - timedelta(minutes=5)
    first = submit(store, started)
    mark_finished(store, first.run_id)  # no max_tries: as an older release wrote it
    again = submit(store, started, max_tries=3)
    assert again.how == "created"
    assert len(emu.runs(FILE_FLOW_ID)) == 2


def test_a_finished_try_whose_success_was_not_recorded_re_attaches(emu):
    """The scheduler reset the task after its try marked the record (a restart), so a next try
    starts with max_tries unchanged: it is a retry of the same ingestion, not a re-ingest."""
    store, started = DictStore(), datetime.now(UTC) - timedelta(minutes=5)
    first = submit(store, started, max_tries=2)
    mark_finished(store, first.run_id, max_tries=2)
    again = submit(store, started, max_tries=2)
    assert (again.run_id, again.how) == (first.run_id, "reattached")
    assert len(emu.runs(FILE_FLOW_ID)) == 1
    cleared = submit(store, started, max_tries=4)  # and a clear after that still re-ingests
    assert cleared.how == "created"
    assert len(emu.runs(FILE_FLOW_ID)) == 2


def test_clearing_with_a_lost_answer_creates_the_new_run_and_does_not_take_the_old_one(emu):
    store, started = DictStore(), datetime.now(UTC) - timedelta(minutes=5)
    first = submit(store, started)
    mark_finished(store, first.run_id)
    emu.visibility_delay = 1.0  # the new run is listed late, the first one (seconds old) already
    emu.inject("commit_then_502", method="POST", path="/runs$", nth=[1])
    again = submit(store, started)
    assert again.how == "adopted"  # the run its own POST created, found by lookup
    assert again.run_id != first.run_id
    assert len(emu.runs(FILE_FLOW_ID)) == 2
    assert store.values["aep_flow_run"]["run_ids"] == sorted([first.run_id, again.run_id])


def test_a_try_that_died_re_attaches_instead(emu):
    store, started = DictStore(), datetime.now(UTC) - timedelta(minutes=5)
    first = submit(store, started)
    again = submit(store, started)  # no mark_finished: the try died
    assert (again.run_id, again.how) == (first.run_id, "reattached")
    assert len(emu.runs(FILE_FLOW_ID)) == 1


def test_runs_from_before_this_dag_run_began_are_not_adopted(emu):
    old = submit(None, datetime.now(UTC) - timedelta(minutes=5))
    fresh = submit(None, datetime.now(UTC) + timedelta(minutes=2))
    adopted = submit(None, datetime.now(UTC) - timedelta(minutes=1))
    assert (old.how, fresh.how, adopted.how) == ("created", "created", "adopted")
    assert adopted.run_id == fresh.run_id
    assert fresh.run_id != old.run_id


def test_a_service_refusing_the_lookup_query_still_gets_its_run(emu, run_dag):
    emu.inject("status", status=400, method="GET", path="/runs$")
    dag_run = run_dag(file_dag("lookup_refused"), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "success"}
    assert len(emu.runs(FILE_FLOW_ID)) == 1


def test_lost_answer_on_the_replacement_post_does_not_adopt_the_failed_run(emu, run_dag):
    emu.configure_flow(FILE_FLOW_ID, fail_first=1)
    emu.visibility_delay = 1.0  # the replacement is listed late; the failed run of try 1 is listed already
    emu.inject("commit_then_502", method="POST", path="/runs$", nth=[2])
    dag_run = run_dag(file_dag("lost_replacement_answer", retries=2), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "success"}
    assert sorted(statuses(emu)) == ["failed", "success"]


def test_lost_answer_adopts_its_own_run_even_when_that_run_failed_already(emu, run_dag):
    emu.configure_flow(FILE_FLOW_ID, fail_first=1)
    emu.visibility_delay = 1.0  # by the time the run is listed, it has failed
    emu.inject("commit_then_502", method="POST", path="/runs$", nth=[1])
    dag_run = run_dag(file_dag("lost_answer_failed_run"), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "failed"}
    assert statuses(emu) == ["failed"]  # one try, one POST that committed: one run
