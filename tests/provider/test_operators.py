"""DAG authors' DAGs with the run operators, run by ``dag.test()`` against the emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable
from dagtest import task_states, xcom

from airflow_flowrun.emulator import FAILING_FLOW_ID, FILE_FLOW_ID, ROW_ERRORS_FLOW_ID, TABLE_FLOW_ID
from airflow_flowrun.exceptions import InvalidParameterError
from airflow_flowrun.operators.flow_run import AdobeFileFlowRunOperator, AdobeTableFlowRunOperator

DAY = datetime(2026, 11, 27, tzinfo=UTC)
DAY_S = int(DAY.timestamp()) - 86400  # a manual run at DAY covers the day before it


def make_dag(dag_id: str, operator_cls=AdobeTableFlowRunOperator, retries: int = 0, **op_kwargs) -> DAG:
    if operator_cls is AdobeTableFlowRunOperator:
        op_kwargs.setdefault("delta_column", "updated_at")
    op_kwargs.setdefault("flow_id", TABLE_FLOW_ID if operator_cls is AdobeTableFlowRunOperator else FILE_FLOW_ID)
    schedule = CronDataIntervalTimetable("@daily", timezone="UTC")
    with DAG(dag_id, schedule=schedule, start_date=DAY - timedelta(days=5), catchup=False) as dag:
        operator_cls(task_id="ingest", poll_interval=0.2, retries=retries, retry_delay=timedelta(0), **op_kwargs)
    return dag


def flow_posts(emu):
    return [r for r in emu.requests if r.method == "POST" and r.path.endswith("/runs")]


def test_table_run_ingests_the_dag_runs_data_interval(emu, run_dag):
    dag_run = run_dag(make_dag("table_interval"), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "success"}
    (run,) = emu.runs(TABLE_FLOW_ID)
    assert run["params"]["windowStartTime"] == DAY_S
    assert run["params"]["windowEndTime"] == DAY_S + 86400
    assert xcom(dag_run, "ingest") == run["id"]


def test_summary_is_pushed_with_the_runs_metrics(emu, run_dag):
    dag_run = run_dag(make_dag("file_summary", AdobeFileFlowRunOperator), logical_date=DAY)
    summary = xcom(dag_run, "ingest", "flow_run")
    (run,) = emu.runs(FILE_FLOW_ID)
    expected = emu.expected_counts(FILE_FLOW_ID, DAY_S, DAY_S + 86400)
    assert summary["run_id"] == run["id"]
    assert summary["flow_id"] == FILE_FLOW_ID
    assert summary["status"] == "success"
    assert (summary["window_start"], summary["window_end"]) == (DAY_S, DAY_S + 86400)
    assert summary["input_files"] == expected["inputFileCount"] > 0
    assert summary["output_records"] == expected["outputRecordCount"] > 0
    assert summary["input_bytes"] == expected["inputBytes"]
    assert summary["output_bytes"] == expected["outputBytes"]
    assert summary["failed_records"] == 0
    assert summary["batch_ids"]
    assert summary["errors"] == []
    assert summary["started_at"].endswith("Z")
    assert summary["completed_at"].endswith("Z")
    assert isinstance(summary["duration_seconds"], float)
    assert summary["ui_url"].endswith(f"/dataflows/{FILE_FLOW_ID}/activity/{run['id']}")
    assert xcom(dag_run, "ingest", "_link_AdobeFlowRunLink") == summary["ui_url"]
    assert xcom(dag_run, "ingest", "_link_AdobeFlowActivityLink") == summary["ui_url"].rsplit("/", 1)[0]


def test_empty_data_interval_fails_explaining_the_cron_default(emu, run_dag, capfd):
    with DAG("cron_trigger", schedule="@daily", start_date=DAY - timedelta(days=5), catchup=False) as dag:
        AdobeTableFlowRunOperator(task_id="ingest", flow_id=TABLE_FLOW_ID, delta_column="updated_at", retries=2)
    dag_run = run_dag(dag, logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "failed"}
    assert "create_cron_data_intervals" in capfd.readouterr().out
    assert emu.requests == []
    (ti,) = dag_run.get_task_instances()
    assert ti.try_number == 1


def test_manual_run_without_window_fails_naming_the_window_parameters(emu, run_dag, capfd):
    dag_run = run_dag(make_dag("manual_no_window", retries=2), logical_date=None)
    assert task_states(dag_run) == {"ingest": "failed"}
    assert "window_start/window_end" in capfd.readouterr().out
    assert emu.requests == []


def test_explicit_iso_window_is_used_on_manual_runs(emu, run_dag):
    dag = make_dag("manual_iso", window_start="2026-11-20T00:00:00Z", window_end="2026-11-20T06:00:00+00:00")
    dag_run = run_dag(dag, logical_date=None)
    assert task_states(dag_run) == {"ingest": "success"}
    (run,) = emu.runs(TABLE_FLOW_ID)
    assert (run["params"]["windowStartTime"], run["params"]["windowEndTime"]) == (1795132800, 1795154400)


def test_templated_epoch_window_renders_to_seconds(emu, run_dag):
    dag = make_dag(
        "templated_window",
        window_start="{{ data_interval_end.int_timestamp }}",
        window_end="{{ data_interval_end.int_timestamp + 3600 }}",
    )
    run_dag(dag, logical_date=DAY)
    (run,) = emu.runs(TABLE_FLOW_ID)
    assert (run["params"]["windowStartTime"], run["params"]["windowEndTime"]) == (DAY_S + 86400, DAY_S + 90000)


def test_failed_run_fails_the_task_with_codes_and_link(emu, run_dag, capfd):
    dag_run = run_dag(make_dag("failing", flow_id=FAILING_FLOW_ID), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "failed"}
    out = capfd.readouterr().out
    (run,) = emu.runs(FAILING_FLOW_ID)
    assert "FlowRunFailedError" in out
    assert "CONNECTOR-1001-500" in out
    assert f"/activity/{run['id']}" in out
    assert xcom(dag_run, "ingest", "flow_run")["status"] == "failed"


def test_row_errors_pass_by_default(emu, run_dag):
    dag_run = run_dag(make_dag("rows_pass", AdobeFileFlowRunOperator, flow_id=ROW_ERRORS_FLOW_ID), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "success"}
    summary = xcom(dag_run, "ingest", "flow_run")
    assert summary["failed_records"] > 0
    assert summary["errors"]


def test_row_errors_fail_the_task_when_asked(emu, run_dag, capfd):
    dag = make_dag("rows_fail", AdobeFileFlowRunOperator, flow_id=ROW_ERRORS_FLOW_ID, fail_on_row_errors=True)
    dag_run = run_dag(dag, logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "failed"}
    assert "fail_on_row_errors=True" in capfd.readouterr().out


def test_without_waiting_the_run_id_returns_at_once(emu, run_dag):
    emu.configure_flow(TABLE_FLOW_ID, duration=30)
    dag_run = run_dag(make_dag("no_wait", wait_for_completion=False), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "success"}
    (run,) = emu.runs(TABLE_FLOW_ID)
    assert xcom(dag_run, "ingest") == run["id"]
    assert xcom(dag_run, "ingest", "flow_run") is None
    assert run["metrics"]["statusSummary"]["status"] != "success"


def test_wait_longer_than_timeout_fails_saying_the_run_cannot_be_cancelled(emu, run_dag, capfd):
    emu.configure_flow(TABLE_FLOW_ID, duration=30)
    dag_run = run_dag(make_dag("timeout", timeout=1), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "failed"}
    out = capfd.readouterr().out
    (run,) = emu.runs(TABLE_FLOW_ID)
    assert "timed out" in out
    assert run["id"] in out
    assert "'inProgress'" in out
    assert "cannot cancel" in out
    assert f"/activity/{run['id']}" in out


def test_first_table_run_without_delta_column_fails_without_airflow_retries(emu, run_dag, capfd):
    dag = make_dag("no_delta", retries=3, delta_column=None)
    dag_run = run_dag(dag, logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "failed"}
    assert "FLOW-1383-400" in capfd.readouterr().out
    assert len(flow_posts(emu)) == 1
    (ti,) = dag_run.get_task_instances()
    assert ti.try_number == 1


def test_retry_reattaches_to_the_run_of_the_failed_try(emu, run_dag):
    emu.configure_flow(TABLE_FLOW_ID, duration=1.0)
    # every status read of the first try fails until its retries are spent; the second try re-attaches
    emu.inject("status", status=500, method="GET", path=r"/runs/[0-9a-f-]+$", max_count=6)
    dag_run = run_dag(make_dag("reattach", retries=1), logical_date=DAY)
    assert task_states(dag_run) == {"ingest": "success"}
    assert len(emu.runs(TABLE_FLOW_ID)) == 1
    assert len(flow_posts(emu)) == 1


def test_file_operator_refuses_a_delta_column():
    with pytest.raises(InvalidParameterError, match=r"delta_column.*file-based flows take no delta column"):
        AdobeFileFlowRunOperator(task_id="x", flow_id=FILE_FLOW_ID, delta_column="updated_at")


def test_malformed_flow_id_is_refused_when_the_dag_is_parsed():
    with pytest.raises(InvalidParameterError, match="flow_id='not-a-flow'"):
        AdobeTableFlowRunOperator(task_id="x", flow_id="not-a-flow")


def test_half_a_window_is_refused():
    with pytest.raises(InvalidParameterError, match="window_end"):
        AdobeTableFlowRunOperator(task_id="x", flow_id=TABLE_FLOW_ID, window_start=DAY)


def test_on_kill_warns_that_the_run_keeps_going(capfd):
    operator = AdobeTableFlowRunOperator(task_id="x", flow_id=TABLE_FLOW_ID)
    operator._run_id = "6b815d80-e9fd-4cd6-b9e8-a1fa1142e7c7"
    operator.on_kill()
    assert "6b815d80-e9fd-4cd6-b9e8-a1fa1142e7c7 keeps running" in capfd.readouterr().out
