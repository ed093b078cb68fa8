"""The run sensor in poke and reschedule modes, with the outcome rules of the operators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk import DAG
from dagtest import task_states, xcom

from airflow_flowrun.emulator import FAILING_FLOW_ID, FILE_FLOW_ID, ROW_ERRORS_FLOW_ID
from airflow_flowrun.exceptions import InvalidParameterError
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.sensors.flow_run import AdobeFlowRunSensor

DAY = datetime(2026, 11, 27, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("warm_dag_test")
WINDOW = {"window_start": int(DAY.timestamp()), "window_end": int(DAY.timestamp()) + 3600}


def sensor_dag(dag_id: str, run_id: str, mode: str, **kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=DAY, catchup=False) as dag:
        AdobeFlowRunSensor(task_id="wait", run_id=run_id, mode=mode, poke_interval=0.2, timeout=60, **kwargs)
    return dag


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_sensor_waits_for_success_and_pushes_the_summary(emu, run_dag, mode):
    emu.configure_flow(FILE_FLOW_ID, duration=8)  # still running at the first poke, however slowly dag.test() starts
    run_id = AdobeFlowServiceHook().create_run(FILE_FLOW_ID, **WINDOW)["id"]
    dag_run = run_dag(sensor_dag(f"sensor_ok_{mode}", run_id, mode), logical_date=None)
    assert task_states(dag_run) == {"wait": "success"}
    summary = xcom(dag_run, "wait", "flow_run")
    assert summary["run_id"] == run_id
    assert summary["status"] == "success"
    gets = [r for r in emu.requests if r.method == "GET" and r.path.endswith(run_id)]
    assert len(gets) >= 2  # it really waited: in progress at first, then done


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_sensor_fails_on_a_failed_run(emu, run_dag, mode, capfd):
    run_id = AdobeFlowServiceHook().create_run(FAILING_FLOW_ID, **WINDOW)["id"]
    dag_run = run_dag(sensor_dag(f"sensor_failed_{mode}", run_id, mode), logical_date=None)
    assert task_states(dag_run) == {"wait": "failed"}
    out = capfd.readouterr().out
    assert "FlowRunFailedError" in out
    assert "CONNECTOR-1001-500" in out


def test_sensor_row_errors_follow_fail_on_row_errors(emu, run_dag):
    run_id = AdobeFlowServiceHook().create_run(ROW_ERRORS_FLOW_ID, **WINDOW)["id"]
    passing = run_dag(sensor_dag("sensor_rows_pass", run_id, "poke"), logical_date=None)
    failing = run_dag(sensor_dag("sensor_rows_fail", run_id, "poke", fail_on_row_errors=True), logical_date=None)
    assert task_states(passing) == {"wait": "success"}
    assert task_states(failing) == {"wait": "failed"}


def test_sensor_waits_while_a_new_run_is_not_visible_yet(emu, run_dag):
    emu.visibility_delay = 8.0  # still invisible at the first poke, however slowly dag.test() starts
    run_id = AdobeFlowServiceHook().create_run(FILE_FLOW_ID, **WINDOW)["id"]
    dag_run = run_dag(sensor_dag("sensor_invisible", run_id, "poke"), logical_date=None)
    assert task_states(dag_run) == {"wait": "success"}
    statuses = [r.status for r in emu.requests if r.method == "GET" and r.path.endswith(run_id)]
    assert statuses[0] == 404
    assert statuses[-1] == 200


def test_sensor_refuses_a_run_id_that_is_not_a_uuid():
    with pytest.raises(InvalidParameterError, match="run_id='12345'"):
        AdobeFlowRunSensor(task_id="wait", run_id="12345")


def test_sensor_templated_run_id_is_checked_after_rendering(emu, run_dag, capfd):
    dag_run = run_dag(sensor_dag("sensor_bad_template", "{{ 'nope' }}", "poke"), logical_date=None)
    assert task_states(dag_run) == {"wait": "failed"}
    assert "run_id='nope'" in capfd.readouterr().out
    assert emu.requests == []


def test_sensor_times_out(emu, run_dag):
    emu.configure_flow(FILE_FLOW_ID, duration=60)
    run_id = AdobeFlowServiceHook().create_run(FILE_FLOW_ID, **WINDOW)["id"]
    with DAG("sensor_timeout", schedule=None, start_date=DAY) as dag:
        AdobeFlowRunSensor(task_id="wait", run_id=run_id, poke_interval=0.2, timeout=timedelta(seconds=1))
    assert task_states(run_dag(dag, logical_date=None)) == {"wait": "failed"}
