"""A DAG author's coverage check on a flow's windows, run by ``dag.test()`` against the emulator."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.timetables.interval import CronDataIntervalTimetable
from dagtest import task_states, xcom

from airflow_flowrun.coverage import describe_gap, describe_overlap, format_window, window_coverage
from airflow_flowrun.emulator import TABLE_FLOW_ID
from airflow_flowrun.exceptions import InvalidParameterError
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.links import flow_run_ui_url
from airflow_flowrun.operators.coverage import AdobeFlowWindowCoverageCheck

DAY = datetime(2026, 11, 27, tzinfo=UTC)
DAY_S = int(DAY.timestamp()) - 86400  # a daily run at DAY has the day before as its data interval
H = 3600


def make_dag(dag_id: str, retries: int = 0, **op_kwargs: Any) -> DAG:
    op_kwargs.setdefault("flow_id", TABLE_FLOW_ID)
    schedule = CronDataIntervalTimetable("@daily", timezone="UTC")
    with DAG(dag_id, schedule=schedule, start_date=DAY - timedelta(days=5), catchup=False) as dag:
        AdobeFlowWindowCoverageCheck(task_id="check", retries=retries, retry_delay=timedelta(0), **op_kwargs)
    return dag


def ingest(emu: Any, start_h: float, end_h: float, outcome: str = "success") -> str:
    """A run of the table flow for ``[DAY_S + start_h h, DAY_S + end_h h)``, made over HTTP.

    ``success``/``failed`` runs end at once; ``inProgress`` runs last an hour.
    """
    finished = outcome != "inProgress"
    emu.configure_flow(TABLE_FLOW_ID, outcome=outcome if finished else "success", duration=0 if finished else H)
    first = not emu.runs(TABLE_FLOW_ID)
    run = AdobeFlowServiceHook().create_run(
        TABLE_FLOW_ID,
        window_start=DAY_S + int(start_h * H),
        window_end=DAY_S + int(end_h * H),
        delta_column="updated_at" if first else None,
    )
    time.sleep(0.002)  # distinct createdAt milliseconds: creation order is the overlaps' run order
    return run["id"]


def window(start_h: float, end_h: float) -> list[int]:
    return [DAY_S + int(start_h * H), DAY_S + int(end_h * H)]


def activity_url(emu: Any) -> str:
    extra = emu.connection_dict["extra"]
    return flow_run_ui_url(extra["org_id"], extra["sandbox_name"], TABLE_FLOW_ID)


def flow_service_calls(emu: Any) -> list[Any]:
    return [request for request in emu.requests if "/flowservice/" in request.path]


def test_a_covered_data_interval_passes_and_returns_the_coverage(aep_emulator, run_dag):
    ingest(aep_emulator, -2, 0)  # the day before the data interval: not checked
    ingest(aep_emulator, 0, 12)
    ingest(aep_emulator, 12, 24)
    dag_run = run_dag(make_dag("coverage_pass"), logical_date=DAY)
    assert task_states(dag_run) == {"check": "success"}
    expected = {"covered": [window(0, 24)], "gaps": [], "overlaps": [], "failed": [], "pending": []}
    assert xcom(dag_run, "check") == expected
    assert xcom(dag_run, "check", "_link_AdobeFlowActivityLink") == activity_url(aep_emulator)


def test_gaps_and_overlaps_fail_the_task_naming_each_of_them(aep_emulator, run_dag, capfd):
    first = ingest(aep_emulator, 0, 2)
    second = ingest(aep_emulator, 1, 2)
    failed = ingest(aep_emulator, 2, 3, "failed")
    running = ingest(aep_emulator, 3, 4, "inProgress")
    ingest(aep_emulator, 3.5, 4)
    checked = window(0, 5)
    dag = make_dag("coverage_fail", window_start=checked[0], window_end=checked[1])
    dag_run = run_dag(dag, logical_date=DAY)
    assert task_states(dag_run) == {"check": "failed"}
    coverage = window_coverage(aep_emulator.runs(TABLE_FLOW_ID), *checked)
    assert coverage["gaps"] == [window(2, 3.5), window(4, 5)]
    assert coverage["overlaps"] == [{"window": window(1, 2), "run_ids": [first, second]}]
    problems = [describe_gap(gap, coverage) for gap in coverage["gaps"]] + [describe_overlap(coverage["overlaps"][0])]
    out = capfd.readouterr().out
    listed = "".join(f"\n- {problem}" for problem in problems)
    assert (
        f"WindowCoverageError: Flow {TABLE_FLOW_ID} did not ingest {format_window(checked)} exactly once:"
        f"{listed}\nRuns: {activity_url(aep_emulator)}"
    ) in out
    assert f"run {failed} failed for {format_window(window(2, 3))}" in problems[0]
    unfinished = format_window(window(3, 3.5))
    assert f"run {running} is still pending (scheduled or in progress) for {unfinished}" in problems[0]
    assert f"ingested by runs {first}, {second}" in problems[2]


def test_allowed_overlaps_pass_and_are_still_reported(aep_emulator, run_dag, capfd):
    first = ingest(aep_emulator, 0, 24)
    second = ingest(aep_emulator, 0, 24)
    dag_run = run_dag(make_dag("coverage_overlaps_allowed", allow_overlaps=True), logical_date=DAY)
    assert task_states(dag_run) == {"check": "success"}
    overlap = {"window": window(0, 24), "run_ids": [first, second]}
    assert xcom(dag_run, "check")["overlaps"] == [overlap]
    assert f"overlaps (allowed): {describe_overlap(overlap)}" in capfd.readouterr().out


def test_overlaps_fail_the_task_unless_allowed(aep_emulator, run_dag, capfd):
    first = ingest(aep_emulator, 0, 24)
    second = ingest(aep_emulator, 6, 7)
    dag_run = run_dag(make_dag("coverage_overlaps_refused"), logical_date=DAY)
    assert task_states(dag_run) == {"check": "failed"}
    overlap = describe_overlap({"window": window(6, 7), "run_ids": [first, second]})
    assert f"exactly once:\n- {overlap}\nRuns:" in capfd.readouterr().out


def test_with_overlaps_allowed_a_gap_fails_naming_only_the_gap(aep_emulator, run_dag, capfd):
    ingest(aep_emulator, 0, 12)
    ingest(aep_emulator, 0, 12)
    dag_run = run_dag(make_dag("coverage_gap_overlaps_allowed", allow_overlaps=True), logical_date=DAY)
    assert task_states(dag_run) == {"check": "failed"}
    out = capfd.readouterr().out
    assert f"exactly once:\n- gap {format_window(window(12, 24))}\nRuns:" in out


def test_a_retry_passes_once_aep_has_filled_the_gap(aep_emulator, run_dag):
    ingest(aep_emulator, 0, 12)

    def aep_ingests_the_rest(context: Any) -> None:
        ingest(aep_emulator, 12, 24)

    dag = make_dag("coverage_retry", retries=1, on_retry_callback=aep_ingests_the_rest)
    dag_run = run_dag(dag, logical_date=DAY)
    assert task_states(dag_run) == {"check": "success"}
    (ti,) = dag_run.get_task_instances()
    assert ti.try_number == 2
    assert xcom(dag_run, "check")["covered"] == [window(0, 24)]


def test_a_bad_flow_id_fails_when_the_dag_is_parsed():
    with pytest.raises(InvalidParameterError, match="flow_id='not-a-flow'"):
        AdobeFlowWindowCoverageCheck(task_id="check", flow_id="not-a-flow")


@pytest.mark.parametrize(("given", "missing"), [("window_start", "window_end"), ("window_end", "window_start")])
def test_half_a_window_fails_when_the_dag_is_parsed_naming_the_missing_half(given, missing):
    with pytest.raises(InvalidParameterError) as raised:
        AdobeFlowWindowCoverageCheck(task_id="check", flow_id=TABLE_FLOW_ID, **{given: DAY_S})
    assert raised.value.param == missing


def test_a_templated_bad_flow_id_fails_before_any_call_without_retries(aep_emulator, run_dag, capfd):
    dag_run = run_dag(make_dag("coverage_bad_flow", retries=2, flow_id="{{ 'not-a-flow' }}"), logical_date=DAY)
    assert task_states(dag_run) == {"check": "failed"}
    assert "flow_id='not-a-flow'" in capfd.readouterr().out
    assert flow_service_calls(aep_emulator) == []
    (ti,) = dag_run.get_task_instances()
    assert ti.try_number == 1


def test_a_reversed_window_fails_before_any_call(aep_emulator, run_dag, capfd):
    dag = make_dag("coverage_reversed", window_start=DAY_S + H, window_end=DAY_S)
    dag_run = run_dag(dag, logical_date=DAY)
    assert task_states(dag_run) == {"check": "failed"}
    assert "window_end=" in capfd.readouterr().out
    assert flow_service_calls(aep_emulator) == []


def test_a_manual_run_without_window_fails_naming_the_window_parameters(aep_emulator, run_dag, capfd):
    dag_run = run_dag(make_dag("coverage_manual", retries=2), logical_date=None)
    assert task_states(dag_run) == {"check": "failed"}
    assert "window_start/window_end" in capfd.readouterr().out
    assert flow_service_calls(aep_emulator) == []
    (ti,) = dag_run.get_task_instances()
    assert ti.try_number == 1


def test_a_cron_schedule_without_data_intervals_fails_explaining_why(aep_emulator, run_dag, capfd):
    with DAG("coverage_cron", schedule="@daily", start_date=DAY - timedelta(days=5), catchup=False) as dag:
        AdobeFlowWindowCoverageCheck(task_id="check", flow_id=TABLE_FLOW_ID, retries=2)
    dag_run = run_dag(dag, logical_date=DAY)
    assert task_states(dag_run) == {"check": "failed"}
    assert "create_cron_data_intervals" in capfd.readouterr().out
    assert flow_service_calls(aep_emulator) == []
