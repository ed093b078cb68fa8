"""Deferrable waiting through ``dag.test()``: the trigger runs inline and ``execute_complete`` decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException
from airflow.timetables.interval import CronDataIntervalTimetable
from dagtest import task_states, xcom

from airflow_flowrun.emulator import FAILING_FLOW_ID, FILE_FLOW_ID, ROW_ERRORS_FLOW_ID
from airflow_flowrun.exceptions import FlowRunTimeoutError
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.operators.flow_run import AdobeFileFlowRunOperator
from airflow_flowrun.outcome import validate_trigger_event
from airflow_flowrun.sensors.flow_run import AdobeFlowRunSensor

DAY = datetime(2026, 11, 27, tzinfo=UTC)
WINDOW = {"window_start": int(DAY.timestamp()), "window_end": int(DAY.timestamp()) + 3600}


def deferred_dag(dag_id: str, flow_id: str = FILE_FLOW_ID, **op_kwargs) -> DAG:
    schedule = CronDataIntervalTimetable("@daily", timezone="UTC")
    with DAG(dag_id, schedule=schedule, start_date=DAY - timedelta(days=3), catchup=False) as dag:
        AdobeFileFlowRunOperator(task_id="ingest", flow_id=flow_id, deferrable=True, poll_interval=0.2, **op_kwargs)
    return dag


def test_deferred_operator_succeeds_with_the_same_summary_as_sync(emu, run_dag):
    dag_run = run_dag(deferred_dag("deferred_ok"), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "success"}
    (run,) = emu.runs(FILE_FLOW_ID)
    assert xcom(dag_run, "ingest") == run["id"]
    summary = xcom(dag_run, "ingest", "flow_run")
    assert summary["run_id"] == run["id"]
    assert summary["status"] == "success"
    assert summary["output_records"] == run["metrics"]["recordSummary"]["outputRecordCount"] > 0
    assert any("property" in r.query for r in emu.requests if r.method == "GET" and r.path.endswith("/runs"))


def test_deferred_operator_fails_on_a_failed_run(emu, run_dag, capfd):
    dag_run = run_dag(deferred_dag("deferred_failed", flow_id=FAILING_FLOW_ID), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "failed"}
    out = capfd.readouterr().out
    assert "FlowRunFailedError" in out
    assert "CONNECTOR-1001-500" in out


@pytest.mark.parametrize(("fail_on_row_errors", "state"), [(False, "success"), (True, "failed")])
def test_deferred_row_errors_follow_fail_on_row_errors(emu, run_dag, fail_on_row_errors, state):
    dag = deferred_dag(f"deferred_rows_{state}", flow_id=ROW_ERRORS_FLOW_ID, fail_on_row_errors=fail_on_row_errors)
    dag_run = run_dag(dag, logical_date=DAY)
    assert task_states(dag_run) == {"ingest": state}
    assert xcom(dag_run, "ingest", "flow_run")["failed_records"] > 0


def test_deferred_timeout_names_run_status_link_and_no_cancel(emu, run_dag, capfd):
    emu.configure_flow(FILE_FLOW_ID, duration=60)
    # the deadline is set when the task defers: the trigger must get a first read in before it
    dag_run = run_dag(deferred_dag("deferred_timeout", timeout=5), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "failed"}
    out = capfd.readouterr().out
    (run,) = emu.runs(FILE_FLOW_ID)
    assert "FlowRunTimeoutError" in out
    assert "timed out" in out
    assert run["id"] in out
    assert "inProgress" in out
    assert "cannot cancel" in out


@pytest.mark.parametrize("mode", ["success", "failed"])
def test_deferred_sensor_gives_the_poke_outcome(emu, run_dag, mode):
    flow_id = FILE_FLOW_ID if mode == "success" else FAILING_FLOW_ID
    run_id = AdobeFlowServiceHook().create_run(flow_id, **WINDOW)["id"]
    with DAG(f"deferred_sensor_{mode}", schedule=None, start_date=DAY) as dag:
        AdobeFlowRunSensor(task_id="wait", run_id=run_id, deferrable=True, poke_interval=0.2, timeout=60)
    dag_run = run_dag(dag, logical_date=None)
    assert task_states(dag_run) == {"wait": mode}
    assert xcom(dag_run, "wait", "flow_run")["status"] == mode


def test_deferred_sensor_times_out(emu, run_dag, capfd):
    emu.configure_flow(FILE_FLOW_ID, duration=60)
    run_id = AdobeFlowServiceHook().create_run(FILE_FLOW_ID, **WINDOW)["id"]
    with DAG("deferred_sensor_timeout", schedule=None, start_date=DAY) as dag:
        AdobeFlowRunSensor(task_id="wait", run_id=run_id, deferrable=True, poke_interval=0.2, timeout=1)
    assert task_states(run_dag(dag, logical_date=None)) == {"wait": "failed"}
    assert "timed out" in capfd.readouterr().out


@pytest.mark.parametrize(
    "event",
    [
        None,
        {},
        "success",
        {"status": "done", "run_id": "r"},
        {"status": "success", "run_id": "r"},
        {"status": "success", "run_id": "r", "flow_run": {"run_id": "other", "status": "success"}},
        {"status": "success", "run_id": "r", "flow_run": {"run_id": "r", "status": "inProgress"}},
        {"status": "error", "run_id": "r", "message": "boom"},
    ],
)
def test_missing_malformed_or_unknown_events_fail_loudly(event):
    with pytest.raises(AirflowException):
        validate_trigger_event(event, "r")


def test_event_for_another_run_fails():
    event = {"status": "success", "run_id": "a", "flow_run": {"run_id": "a", "status": "success"}}
    with pytest.raises(AirflowException, match="expected 'b'"):
        validate_trigger_event(event, "b")


def test_timeout_event_raises_the_timeout_error():
    with pytest.raises(FlowRunTimeoutError, match="timed out"):
        validate_trigger_event({"status": "timeout", "run_id": "r", "message": "Waiting ... timed out"}, "r")


def test_unknown_event_fails_the_deferred_operator(emu, run_dag, monkeypatch, capfd):
    from airflow.triggers.base import TriggerEvent

    from airflow_flowrun.triggers.flow_run import AdobeFlowRunTrigger

    async def bogus_run(self):
        yield TriggerEvent({"status": "maybe", "run_id": self.run_id})

    monkeypatch.setattr(AdobeFlowRunTrigger, "run", bogus_run)
    dag_run = run_dag(deferred_dag("deferred_unknown_event"), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "failed"}
    assert "Unexpected event" in capfd.readouterr().out


def test_deferred_wait_reads_runs_one_by_one_when_listing_is_refused(emu, run_dag):
    emu.inject("status", status=400, method="GET", path="/runs$")
    dag_run = run_dag(deferred_dag("deferred_no_listing"), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "success"}
    (run,) = emu.runs(FILE_FLOW_ID)
    assert any(r.status == 200 and r.path.endswith(run["id"]) for r in emu.requests)
