"""The same situation ends the same way in every waiting mode: state, tries spent, exception, links.

Operators wait ``sync`` or ``deferrable``; the sensor waits in ``poke``, ``reschedule`` or
``deferrable`` mode. Every test here runs a DAG author's DAG through ``dag.test()`` against the
emulator, once per mode, and checks what a DAG author sees: the task's final state, how many tries
it spent (``retries=2`` everywhere, so a verdict that spends retries shows 3), and the log.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from airflow import __version__ as AIRFLOW_VERSION
from airflow.sdk import DAG
from dagtest import task_states, xcom
from packaging.version import Version

from airflow_flowrun import outcome
from airflow_flowrun.emulator import FAILING_FLOW_ID, FILE_FLOW_ID, ROW_ERRORS_FLOW_ID
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.operators.flow_run import AdobeFileFlowRunOperator
from airflow_flowrun.sensors.flow_run import AdobeFlowRunSensor

AIRFLOW_3_1 = Version(AIRFLOW_VERSION) < Version("3.2")

DAY = datetime(2026, 11, 27, tzinfo=UTC)
WINDOW = {"window_start": int(DAY.timestamp()), "window_end": int(DAY.timestamp()) + 3600}
OPERATOR_MODES = ["sync", "deferrable"]
SENSOR_MODES = ["poke", "reschedule", "deferrable"]
RETRIES = {"retries": 2, "retry_delay": timedelta(0)}

pytestmark = pytest.mark.usefixtures("warm_dag_test")


def operator_dag(dag_id: str, mode: str, flow_id: str = FILE_FLOW_ID, **kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=DAY, catchup=False) as dag:
        AdobeFileFlowRunOperator(
            task_id="ingest", flow_id=flow_id, deferrable=mode == "deferrable", poll_interval=0.2,
            **WINDOW, **{**RETRIES, **kwargs},
        )  # fmt: skip
    return dag


def sensor_dag(dag_id: str, run_id: str, mode: str, **kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=DAY, catchup=False) as dag:
        AdobeFlowRunSensor(
            task_id="wait", run_id=run_id, mode="poke" if mode == "deferrable" else mode,
            deferrable=mode == "deferrable", poke_interval=0.2, **{"timeout": 60, **RETRIES, **kwargs},
        )  # fmt: skip
    return dag


def tries_spent(dag_run, task_id: str) -> int:
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == task_id]
    return ti.try_number


def new_run(flow_id: str, *, finished: bool = False) -> str:
    """A run created outside the DAG (as another task or the AEP UI would), optionally waited out."""
    hook = AdobeFlowServiceHook()
    run_id = hook.create_run(flow_id, **WINDOW)["id"]
    while finished and hook.get_run(run_id)["metrics"]["statusSummary"]["status"] not in ("success", "failed"):
        time.sleep(0.1)
    return run_id


# -- a deterministic failure spends no retries ----------------------------------------------------


@pytest.mark.parametrize("mode", OPERATOR_MODES)
def test_operator_row_errors_under_fail_on_row_errors_spend_no_retries(emu, run_dag, mode, capfd):
    dag = operator_dag(f"verdict_rows_{mode}", mode, ROW_ERRORS_FLOW_ID, fail_on_row_errors=True)
    dag_run = run_dag(dag, logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "failed"}
    assert tries_spent(dag_run, "ingest") == 1
    assert len(emu.runs(ROW_ERRORS_FLOW_ID)) == 1
    assert "FlowRunRowErrorsError" in capfd.readouterr().out


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_sensor_row_errors_under_fail_on_row_errors_spend_no_retries(emu, run_dag, mode, capfd):
    emu.configure_flow(ROW_ERRORS_FLOW_ID, duration=1.0)
    dag = sensor_dag(f"verdict_sensor_rows_{mode}", new_run(ROW_ERRORS_FLOW_ID), mode, fail_on_row_errors=True)
    dag_run = run_dag(dag, logical_date=None)
    assert task_states(dag_run) == {"wait": "failed"}
    assert tries_spent(dag_run, "wait") == 1
    assert "FlowRunRowErrorsError" in capfd.readouterr().out


@pytest.mark.parametrize("mode", OPERATOR_MODES)
def test_operator_forbidden_status_read_spends_no_retries(emu, run_dag, mode, capfd):
    emu.configure_flow(FILE_FLOW_ID, duration=5)
    emu.inject("status", status=403, method="GET", path="/runs")
    dag_run = run_dag(operator_dag(f"verdict_403_{mode}", mode), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "failed"}
    assert tries_spent(dag_run, "ingest") == 1
    assert len(emu.runs(FILE_FLOW_ID)) == 1
    assert "FlowServiceFatalError" in capfd.readouterr().out


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_sensor_forbidden_status_read_spends_no_retries(emu, run_dag, mode, capfd):
    emu.configure_flow(FILE_FLOW_ID, duration=5)
    run_id = new_run(FILE_FLOW_ID)
    emu.inject("status", status=403, method="GET", path="/runs", nth=list(range(2, 200)))
    dag_run = run_dag(sensor_dag(f"verdict_sensor_403_{mode}", run_id, mode), logical_date=None)
    assert task_states(dag_run) == {"wait": "failed"}
    assert tries_spent(dag_run, "wait") == 1
    assert "FlowServiceFatalError" in capfd.readouterr().out


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_run_missing_past_the_visibility_grace_spends_no_retries(emu, run_dag, mode, monkeypatch):
    monkeypatch.setattr(outcome, "VISIBILITY_GRACE", 0.5)
    dag_run = run_dag(sensor_dag(f"verdict_404_{mode}", str(uuid.uuid4()), mode), logical_date=None)
    assert task_states(dag_run) == {"wait": "failed"}
    assert tries_spent(dag_run, "wait") == 1


# -- sensor parity: timeout and the fail modes ----------------------------------------------------


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_sensor_timeout_is_a_sensor_timeout_without_retries(emu, run_dag, mode, capfd):
    emu.configure_flow(FILE_FLOW_ID, duration=60)
    dag_run = run_dag(sensor_dag(f"verdict_timeout_{mode}", new_run(FILE_FLOW_ID), mode, timeout=1), logical_date=None)
    assert task_states(dag_run) == {"wait": "failed"}
    assert tries_spent(dag_run, "wait") == 1
    assert "AirflowSensorTimeout" in capfd.readouterr().out


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_soft_fail_skips_a_sensor_timeout(emu, run_dag, mode):
    emu.configure_flow(FILE_FLOW_ID, duration=60)
    dag = sensor_dag(f"verdict_soft_timeout_{mode}", new_run(FILE_FLOW_ID), mode, timeout=1, soft_fail=True)
    assert task_states(run_dag(dag, logical_date=None)) == {"wait": "skipped"}


@pytest.mark.parametrize("finished", [True, False], ids=["first_poke", "later"])
@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_soft_fail_skips_row_errors(emu, run_dag, mode, finished):
    emu.configure_flow(ROW_ERRORS_FLOW_ID, duration=1.0)
    run_id = new_run(ROW_ERRORS_FLOW_ID, finished=finished)
    dag = sensor_dag(f"verdict_soft_rows_{mode}_{finished}", run_id, mode, fail_on_row_errors=True, soft_fail=True)
    assert task_states(run_dag(dag, logical_date=None)) == {"wait": "skipped"}


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_soft_fail_does_not_skip_a_failed_run(emu, run_dag, mode):
    """A failed run is an error a retry might not repeat: poke mode fails under soft_fail, so every mode does."""
    emu.configure_flow(FAILING_FLOW_ID, duration=1.0)
    dag = sensor_dag(f"verdict_soft_failed_{mode}", new_run(FAILING_FLOW_ID), mode, soft_fail=True, retries=0)
    assert task_states(run_dag(dag, logical_date=None)) == {"wait": "failed"}


@pytest.mark.parametrize("finished", [True, False], ids=["first_poke", "later"])
@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_never_fail_skips_a_failed_run(emu, run_dag, mode, finished):
    emu.configure_flow(FAILING_FLOW_ID, duration=1.0)
    dag = sensor_dag(f"verdict_never_{mode}_{finished}", new_run(FAILING_FLOW_ID, finished=finished), mode,
                     never_fail=True)  # fmt: skip
    assert task_states(run_dag(dag, logical_date=None)) == {"wait": "skipped"}


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_silent_fail_keeps_waiting_through_a_failed_read(emu, run_dag, mode):
    emu.configure_flow(FILE_FLOW_ID, duration=8.0)  # still running at the first poke, however slowly dag.test() starts
    run_id = new_run(FILE_FLOW_ID)
    emu.inject("status", status=500, method="GET", path="/runs", nth=list(range(2, 8)))  # one read's 6 attempts
    dag_run = run_dag(sensor_dag(f"verdict_silent_{mode}", run_id, mode, silent_fail=True), logical_date=None)
    assert task_states(dag_run) == {"wait": "success"}
    assert tries_spent(dag_run, "wait") == 1
    assert emu.faults_injected["status"] == 6


# -- the run's links while the task waits ---------------------------------------------------------


class LinkWatcher:
    """Reads the run link's XCom from the metadata DB while a DAG runs, as the UI would."""

    def __init__(self, emu, flow_id: str, dag_id: str, task_id: str) -> None:
        self.emu, self.flow_id, self.dag_id, self.task_id = emu, flow_id, dag_id, task_id
        self.seen_while_running: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> LinkWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session
        from sqlalchemy.exc import OperationalError

        while not self._stop.wait(0.1):
            running = [
                r for r in self.emu.runs(self.flow_id) if r["metrics"]["statusSummary"]["status"] == "inProgress"
            ]
            try:
                with create_session() as session:
                    rows = (
                        session.query(XComModel)
                        .filter_by(dag_id=self.dag_id, task_id=self.task_id, key="_link_AdobeFlowRunLink")
                        .all()
                    )
                    values = [XComModel.deserialize_value(row) for row in rows]
            except OperationalError:  # SQLite busy with the task's own writes: look again next time
                continue
            if running:
                self.seen_while_running.update(v for v in values if isinstance(v, str) and v)


@pytest.mark.parametrize("mode", OPERATOR_MODES)
def test_operator_run_link_is_stored_while_the_task_waits(emu, run_dag, mode):
    emu.configure_flow(FILE_FLOW_ID, duration=3.0)
    dag_id = f"verdict_link_{mode}"
    with LinkWatcher(emu, FILE_FLOW_ID, dag_id, "ingest") as watcher:
        dag_run = run_dag(operator_dag(dag_id, mode), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "success"}
    summary = xcom(dag_run, "ingest", "flow_run")
    assert watcher.seen_while_running == {summary["ui_url"]}
    assert xcom(dag_run, "ingest", "_link_AdobeFlowActivityLink").endswith(f"/dataflows/{FILE_FLOW_ID}/activity")


@pytest.mark.parametrize("mode", SENSOR_MODES)
@pytest.mark.xfail(
    AIRFLOW_3_1,
    reason="on Airflow 3.1 the watcher sometimes sees no link while the run is in progress (about one run "
    "in three of the suite, a different mode each time); not yet explained, see the issue note",
    strict=False,
)
def test_sensor_run_link_is_stored_while_the_task_waits(emu, run_dag, mode):
    # the run starts before the DAG does: long enough that Airflow 3.1's slower dag.test() start still
    # finds it in progress
    emu.configure_flow(FILE_FLOW_ID, duration=8.0)
    dag_id = f"verdict_sensor_link_{mode}"
    run_id = new_run(FILE_FLOW_ID)
    with LinkWatcher(emu, FILE_FLOW_ID, dag_id, "wait") as watcher:
        dag_run = run_dag(sensor_dag(dag_id, run_id, mode), logical_date=None)
    assert task_states(dag_run) == {"wait": "success"}
    assert watcher.seen_while_running == {xcom(dag_run, "wait", "flow_run")["ui_url"]}


@pytest.mark.parametrize("mode", OPERATOR_MODES)
def test_a_link_without_a_run_is_empty_and_logs_no_error(emu, run_dag, mode, capfd):
    dag_run = run_dag(operator_dag(f"verdict_no_run_{mode}", mode, flow_id="{{ 'not-a-uuid' }}"), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "failed"}
    out = capfd.readouterr().out
    assert "flow_id='not-a-uuid'" in out
    assert "XCom not found" not in out
    assert xcom(dag_run, "ingest", "_link_AdobeFlowRunLink") == ""


def test_reschedule_pokes_log_no_missing_link_error(emu, run_dag, capfd):
    emu.visibility_delay = 1.5  # the first pokes cannot read the run, so they know no link yet
    dag_run = run_dag(sensor_dag("verdict_no_link_poke", new_run(FILE_FLOW_ID), "reschedule"), logical_date=None)
    assert task_states(dag_run) == {"wait": "success"}
    assert "XCom not found" not in capfd.readouterr().out


# -- templated connection ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", OPERATOR_MODES)
def test_operator_aep_conn_id_is_templated(emu, run_dag, mode):
    dag = operator_dag(f"verdict_conn_tpl_{mode}", mode, aep_conn_id="{{ 'aep_' ~ 'default' }}")
    assert task_states(run_dag(dag, logical_date=DAY)) == {"ingest": "success"}


@pytest.mark.parametrize("mode", SENSOR_MODES)
def test_sensor_aep_conn_id_is_templated(emu, run_dag, mode):
    dag = sensor_dag(f"verdict_sensor_conn_tpl_{mode}", new_run(FILE_FLOW_ID), mode,
                     aep_conn_id="{{ 'aep_' ~ 'default' }}")  # fmt: skip
    assert task_states(run_dag(dag, logical_date=None)) == {"wait": "success"}
