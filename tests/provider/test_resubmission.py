"""Re-triggered runs and lost POST answers, end to end through ``dag.test()`` in every operator mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import airflow
import pytest
from airflow.sdk import DAG
from dagtest import task_states, xcom
from packaging.version import Version

from airflow_flowrun.emulator import FILE_FLOW_ID
from airflow_flowrun.operators.flow_run import AdobeFileFlowRunOperator

DAY = datetime(2026, 11, 27, tzinfo=UTC)
WINDOW = {"window_start": int(DAY.timestamp()), "window_end": int(DAY.timestamp()) + 3600}
MODES = ["sync", "deferrable"]

pytestmark = pytest.mark.usefixtures("warm_dag_test")


def file_dag(dag_id: str, mode: str, **kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=DAY, catchup=False) as dag:
        AdobeFileFlowRunOperator(
            task_id="ingest", flow_id=FILE_FLOW_ID, deferrable=mode == "deferrable", poll_interval=0.2,
            retry_delay=timedelta(0), **WINDOW, **kwargs,
        )  # fmt: skip
    return dag


def statuses(emu) -> list[str]:
    return [run["metrics"]["statusSummary"]["status"] for run in emu.runs(FILE_FLOW_ID)]


@pytest.mark.parametrize("mode", MODES)
def test_retrigger_waits_for_the_run_named_in_the_action_answer(emu, run_dag, mode):
    emu.configure_flow(FILE_FLOW_ID, fail_first=1)
    emu.update_settings(retrigger_mode="new-run")
    dag_run = run_dag(
        file_dag(f"retrigger_new_id_{mode}", mode, retries=1, retrigger_failed_run=True), logical_date=DAY
    )
    assert task_states(dag_run) == {"ingest": "success"}
    failed, replacement = emu.runs(FILE_FLOW_ID)
    assert statuses(emu) == ["failed", "success"]
    assert xcom(dag_run, "ingest") == replacement["id"]
    assert xcom(dag_run, "ingest", "flow_run")["run_id"] == replacement["id"]
    assert any(r.path.endswith(f"/runs/{failed['id']}/action") for r in emu.requests)


@pytest.mark.parametrize("mode", MODES)
def test_retrigger_ignores_the_failed_status_seen_right_after_it(emu, run_dag, mode):
    emu.configure_flow(FILE_FLOW_ID, fail_first=1)
    emu.update_settings(retrigger_status_lag=1.5)
    dag_run = run_dag(file_dag(f"retrigger_stale_{mode}", mode, retries=1, retrigger_failed_run=True), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "success"}
    (run,) = emu.runs(FILE_FLOW_ID)
    assert xcom(dag_run, "ingest", "flow_run")["status"] == "success"
    assert xcom(dag_run, "ingest") == run["id"]


@pytest.mark.skipif(
    Version(airflow.__version__).release < (3, 3),
    reason="the submission note lives in task_state_store (Airflow >= 3.3); without it a later try looks "
    "for the lost POST's run only for the hook's lost_answer_grace, as the README says",
)
@pytest.mark.parametrize("mode", MODES)
def test_lost_post_answer_with_a_lagging_listing_makes_one_run(emu, run_dag, mode):
    """The POST committed, its answer was lost, and the run stays out of listings for 12 s: the try
    fails without re-sending the POST, and the next try adopts the run through the submission note."""
    emu.visibility_delay = 12.0
    emu.inject("commit_then_502", method="POST", path="/runs$", nth=[1])
    dag_run = run_dag(file_dag(f"lost_post_lag_{mode}", mode, retries=2), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "success"}
    (run,) = emu.runs(FILE_FLOW_ID)
    assert xcom(dag_run, "ingest") == run["id"]
    assert len([r for r in emu.requests if r.method == "POST" and r.path.endswith("/runs")]) == 1
    report = emu.window_report(FILE_FLOW_ID)
    assert report["overlaps"] == []
