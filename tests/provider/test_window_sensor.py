"""The sensor by window: a flow's own runs (hourly, say) must cover the DAG's window, in every mode.

Each test builds the flow's runs on the emulator over HTTP (on-demand runs stand in for the runs AEP
starts on its schedule: the sensor cannot tell them apart) and runs a DAG author's DAG through
``dag.test()`` once per waiting mode: ``poke``, ``reschedule`` and ``deferrable`` end the same
situation the same way (state, tries spent, exception, XComs).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable
from dagtest import task_states, xcom

from airflow_flowrun._compat import AIRFLOW_V_3_3_PLUS
from airflow_flowrun.emulator import ROW_ERRORS_FLOW_ID, TABLE_FLOW_ID
from airflow_flowrun.exceptions import InvalidParameterError
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.sensors.flow_run import AdobeFlowRunSensor

DAY = datetime(2026, 11, 20, tzinfo=UTC)
START = int(DAY.timestamp())
HOUR = 3600
#: The window the DAG waits for: three hours, which the flow ingests an hour at a time.
WINDOW = {"window_start": START, "window_end": START + 3 * HOUR}
MODES = ["poke", "reschedule", "deferrable"]
RETRIES = {"retries": 2, "retry_delay": timedelta(0)}

pytestmark = pytest.mark.usefixtures("warm_dag_test")


def window_dag(dag_id: str, mode: str, flow_id: str = TABLE_FLOW_ID, **kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=DAY, catchup=False) as dag:
        AdobeFlowRunSensor(
            task_id="wait", flow_id=flow_id, mode="poke" if mode == "deferrable" else mode,
            deferrable=mode == "deferrable", poke_interval=0.3, **{"timeout": 60, **RETRIES, **WINDOW, **kwargs},
        )  # fmt: skip
    return dag


def hourly_runs(hours: range, flow_id: str = TABLE_FLOW_ID) -> list[str]:
    """Runs of the flow for each hour of ``hours`` (counted from START), in that order."""
    hook = AdobeFlowServiceHook()
    delta = {"delta_column": "updated_at"} if flow_id == TABLE_FLOW_ID else {}
    return [
        hook.create_run(flow_id, window_start=START + hour * HOUR, window_end=START + (hour + 1) * HOUR, **delta)["id"]
        for hour in hours
    ]


def wait_until_finished(emu, flow_id: str = TABLE_FLOW_ID) -> None:
    while any(run["metrics"]["statusSummary"]["status"] not in ("success", "failed") for run in emu.runs(flow_id)):
        time.sleep(0.1)


def tries_spent(dag_run) -> int:
    (ti,) = dag_run.get_task_instances()
    return ti.try_number


@pytest.mark.parametrize("mode", MODES)
def test_window_covered_by_hourly_runs_returns_their_ids_and_summaries(emu, run_dag, mode):
    run_ids = hourly_runs(range(3))
    dag_run = run_dag(window_dag(f"window_ok_{mode}", mode), logical_date=None)
    assert task_states(dag_run) == {"wait": "success"}
    assert xcom(dag_run, "wait") == run_ids
    summaries = xcom(dag_run, "wait", "flow_runs")
    assert [summary["run_id"] for summary in summaries] == run_ids
    assert all(summary["status"] == "success" for summary in summaries)
    assert [summary["window_start"] for summary in summaries] == [START, START + HOUR, START + 2 * HOUR]
    assert xcom(dag_run, "wait", "_link_AdobeFlowRunLink").endswith(run_ids[-1])


@pytest.mark.parametrize("mode", MODES)
def test_window_waits_until_the_last_hour_is_ingested(emu, run_dag, mode):
    hourly_runs(range(2))
    emu.configure_flow(TABLE_FLOW_ID, duration=6.0)  # the third hour is still running at the first check
    last = hourly_runs(range(2, 3))
    dag_run = run_dag(window_dag(f"window_wait_{mode}", mode), logical_date=None)
    assert task_states(dag_run) == {"wait": "success"}
    assert xcom(dag_run, "wait")[-1] == last[0]
    listings = [r for r in emu.requests if r.method == "GET" and r.path.endswith("/runs")]
    assert len(listings) >= 2  # it really waited: a gap at first, covered later


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_hour_nobody_covers_fails_the_window(emu, run_dag, mode, capfd):
    emu.configure_flow(TABLE_FLOW_ID, fail_first=1)  # the flow's first run fails
    (failed,) = hourly_runs(range(1, 2))
    hourly_runs([0, 2])
    wait_until_finished(emu)
    dag_run = run_dag(window_dag(f"window_failed_{mode}", mode, retries=0), logical_date=None)
    assert task_states(dag_run) == {"wait": "failed"}
    out = capfd.readouterr().out
    assert "FlowRunFailedError" in out
    assert failed in out
    assert "uncovered" in out
    assert "CONNECTOR-1001-500" in out


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_hour_covered_by_a_later_run_does_not_count(emu, run_dag, mode):
    emu.configure_flow(TABLE_FLOW_ID, fail_first=1)
    (failed,) = hourly_runs(range(1, 2))
    run_ids = hourly_runs(range(3))  # the rerun of hour 1 succeeds
    wait_until_finished(emu)
    dag_run = run_dag(window_dag(f"window_rerun_{mode}", mode), logical_date=None)
    assert task_states(dag_run) == {"wait": "success"}
    assert xcom(dag_run, "wait") == run_ids
    assert failed not in xcom(dag_run, "wait")


@pytest.mark.parametrize("mode", MODES)
def test_a_window_never_covered_times_out_as_a_sensor_without_retries(emu, run_dag, mode, capfd):
    hourly_runs(range(2))  # hour 2 never comes
    dag_run = run_dag(window_dag(f"window_timeout_{mode}", mode, timeout=2), logical_date=None)
    assert task_states(dag_run) == {"wait": "failed"}
    assert tries_spent(dag_run) == 1
    assert "AirflowSensorTimeout" in capfd.readouterr().out


@pytest.mark.parametrize("mode", MODES)
def test_soft_fail_skips_a_window_timeout(emu, run_dag, mode):
    dag_run = run_dag(window_dag(f"window_soft_{mode}", mode, timeout=1, soft_fail=True), logical_date=None)
    assert task_states(dag_run) == {"wait": "skipped"}


@pytest.mark.parametrize("mode", MODES)
def test_row_errors_in_a_covering_run_follow_fail_on_row_errors(emu, run_dag, mode, capfd):
    hourly_runs(range(3), flow_id=ROW_ERRORS_FLOW_ID)
    wait_until_finished(emu, ROW_ERRORS_FLOW_ID)
    passing = run_dag(window_dag(f"window_rows_pass_{mode}", mode, ROW_ERRORS_FLOW_ID), logical_date=None)
    failing = run_dag(
        window_dag(f"window_rows_fail_{mode}", mode, ROW_ERRORS_FLOW_ID, fail_on_row_errors=True), logical_date=None
    )
    assert task_states(passing) == {"wait": "success"}
    assert task_states(failing) == {"wait": "failed"}
    assert tries_spent(failing) == 1
    assert "FlowRunRowErrorsError" in capfd.readouterr().out


@pytest.mark.parametrize("mode", MODES)
def test_the_window_defaults_to_the_data_interval(emu, run_dag, mode):
    hook = AdobeFlowServiceHook()
    halves = [(START, START + 12 * HOUR), (START + 12 * HOUR, START + 24 * HOUR)]
    run_ids = [
        hook.create_run(TABLE_FLOW_ID, window_start=s, window_end=e, delta_column="updated_at")["id"] for s, e in halves
    ]
    with DAG(f"window_interval_{mode}", schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
             start_date=DAY, catchup=False) as dag:  # fmt: skip
        AdobeFlowRunSensor(
            task_id="wait", flow_id=TABLE_FLOW_ID, mode="poke" if mode == "deferrable" else mode,
            deferrable=mode == "deferrable", poke_interval=0.3, timeout=60,
        )  # fmt: skip
    dag_run = run_dag(dag, logical_date=DAY + timedelta(days=1))  # its data interval is the day of DAY
    assert task_states(dag_run) == {"wait": "success"}
    assert xcom(dag_run, "wait") == run_ids


def test_window_sensor_without_a_window_or_data_interval_fails_before_any_call(emu, run_dag, capfd):
    with DAG("window_none", schedule=None, start_date=DAY, catchup=False) as dag:
        AdobeFlowRunSensor(task_id="wait", flow_id=TABLE_FLOW_ID, poke_interval=0.3, timeout=5)
    assert task_states(run_dag(dag, logical_date=None)) == {"wait": "failed"}
    assert "window_start/window_end" in capfd.readouterr().out
    assert [r for r in emu.requests if "/runs" in r.path] == []


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({}, "run_id/flow_id"),
        ({"run_id": "9f0e1d2c-3b4a-4c5d-8e6f-7a8b9c0d1e2f", "flow_id": TABLE_FLOW_ID}, "run_id/flow_id"),
        ({"run_id": "9f0e1d2c-3b4a-4c5d-8e6f-7a8b9c0d1e2f", **WINDOW}, "window_start/window_end"),
        ({"flow_id": TABLE_FLOW_ID, "window_start": START}, "window_end"),
        ({"flow_id": "not-a-flow"}, "flow_id='not-a-flow'"),
    ],
)
def test_bad_sensor_arguments_fail_when_the_dag_is_parsed(kwargs, named):
    with pytest.raises(InvalidParameterError, match=named):
        AdobeFlowRunSensor(task_id="wait", **kwargs)


def test_start_from_trigger_needs_a_flow_window_and_deferrable():
    with pytest.raises(InvalidParameterError, match="start_from_trigger"):
        AdobeFlowRunSensor(task_id="wait", flow_id=TABLE_FLOW_ID, start_from_trigger=True)
    with pytest.raises(InvalidParameterError, match="start_from_trigger"):
        AdobeFlowRunSensor(
            task_id="wait", run_id="9f0e1d2c-3b4a-4c5d-8e6f-7a8b9c0d1e2f", deferrable=True, start_from_trigger=True
        )


def test_start_from_trigger_hands_the_triggerer_the_sensors_templated_fields():
    sensor = AdobeFlowRunSensor(
        task_id="wait", flow_id="{{ var.value.flow }}", deferrable=True, start_from_trigger=True,
        poke_interval=7, timeout=120,
    )  # fmt: skip
    if not AIRFLOW_V_3_3_PLUS:  # nothing is rendered there: it defers from the worker (with a warning)
        assert sensor.start_from_trigger is False
        return
    assert sensor.start_from_trigger is True
    args = sensor.start_trigger_args
    assert args.trigger_cls == "airflow_flowrun.triggers.flow_window.AdobeFlowWindowTrigger"
    assert args.next_method == "execute_complete"
    assert args.timeout == timedelta(seconds=120)
    kwargs = args.trigger_kwargs
    assert kwargs["flow_id"] == "{{ var.value.flow }}"
    assert "data_interval_start" in kwargs["window_start"]
    assert kwargs["data_interval"] is True
    assert set(sensor.template_fields) >= {"flow_id", "window_start", "window_end", "aep_conn_id"}
