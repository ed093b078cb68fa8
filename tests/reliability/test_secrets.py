"""No client secret and no access token in anything a user, a log shipper or the metadata DB sees.

The example DAGs, a failed run, a wrong-secret connection and a trigger that errors run with canary
credentials (a distinctive secret, distinctive tokens that expire every two seconds); then every
captured log line, XCom value, rendered template field, task state value and exception text is
searched for the secret and for every token the emulator issued. So is everything the session's fault
soak (the ``fault_soak`` fixture of tests/reliability/conftest.py, with canary credentials of its own)
printed, logged from DEBUG up and stored, for its own secret and tokens and for these.
"""

from __future__ import annotations

import json
import logging
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.sdk import DAG
from dagtest import dagbag_api
from reliability.leaks import canary_credentials, stored_texts, task_state_store_model

from airflow_flowrun import outcome
from airflow_flowrun.emulator import FAILING_FLOW_ID, FILE_FLOW_ID, RECURRING_FLOW_ID, SEEDED_FLOW_IDS, TABLE_FLOW_ID
from airflow_flowrun.exceptions import FlowServiceError
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.operators.flow_run import AdobeFileFlowRunOperator, AdobeTableFlowRunOperator
from airflow_flowrun.sensors.flow_run import AdobeFlowRunSensor

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"
DAY = datetime(2026, 11, 27, tzinfo=UTC)
WRONG_SECRET = "cs-WRONG-CANARY-secret-3e8a"
UNKNOWN_RUN_ID = "0badf10e-0000-4000-8000-000000000000"
WINDOW = {"window_start": int(DAY.timestamp()), "window_end": int(DAY.timestamp()) + 3600}

pytestmark = pytest.mark.xdist_group("fault_soak")  # on the worker of test_fault_soak.py: one soak for both


def failing_paths_dag() -> DAG:
    """A run that fails, a connection with a wrong secret, and a deferred wait whose trigger errors (unknown run)."""
    with DAG("secrets_failing_paths", schedule=None, start_date=DAY, catchup=False) as dag:
        common = {"poll_interval": 0.2, "retries": 0, **WINDOW}
        AdobeTableFlowRunOperator(task_id="failed_run", flow_id=FAILING_FLOW_ID, **common)
        AdobeFileFlowRunOperator(task_id="wrong_secret", flow_id=FILE_FLOW_ID, aep_conn_id="aep_wrong", **common)
        AdobeFlowRunSensor(
            task_id="trigger_error", run_id=UNKNOWN_RUN_ID, deferrable=True, poke_interval=0.2, timeout=30
        )
    return dag


def exception_texts(error: BaseException) -> list[str]:
    """Every form in which an exception's text travels: str, repr, args and a pickled round trip."""
    revived = pickle.loads(pickle.dumps(error))
    return [str(error), repr(error), json.dumps(error.args, default=str), str(revived), repr(revived)]


def test_no_secret_or_token_leaks_from_examples_failures_or_the_soak(
    fault_soak, aep_emulator, run_dag, token_cache, capfd, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    dag_runs = []
    with canary_credentials(aep_emulator) as canary:
        aep_emulator.token_lifetime = 2.0
        for flow_id in SEEDED_FLOW_IDS.values():
            aep_emulator.configure_flow(flow_id, duration=0)
        connection = {**aep_emulator.connection_dict, "password": canary.secret}
        monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", json.dumps(connection))
        monkeypatch.setenv("AIRFLOW_CONN_AEP_WRONG", json.dumps({**connection, "password": WRONG_SECRET}))
        # AEP runs the recurring flow hourly: the scheduled-flow example waits for and checks its runs
        aep_emulator.schedule_flow(RECURRING_FLOW_ID, every=3600, start=int((DAY - timedelta(days=2)).timestamp()))

        examples = dagbag_api()[0](dag_folder=str(EXAMPLE_DAGS)).dags
        assert sorted(examples) == [
            "example_aep_assets", "example_aep_assets_consumer", "example_aep_event_trigger", "example_aep_fan_out",
            "example_aep_file_ingestion", "example_aep_pipeline", "example_aep_scheduled_flow",
            "example_aep_table_ingestion",
        ]  # fmt: skip
        for dag in examples.values():
            dag_run = dag.test(logical_date=DAY)
            assert dag_run.state == "success", f"{dag.dag_id} ended {dag_run.state}"
            dag_runs.append(dag_run)
            aep_emulator.revoke_tokens()  # the next call gets a 401 and fetches a new token

        monkeypatch.setattr(outcome, "VISIBILITY_GRACE", 0.5)  # the unknown run's 404 ends the wait soon
        failing = run_dag(failing_paths_dag(), logical_date=None)
        dag_runs.append(failing)
        states = {ti.task_id: ti.state for ti in failing.get_task_instances()}
        assert states == {"failed_run": "failed", "wrong_secret": "failed", "trigger_error": "failed"}

        with pytest.raises(FlowServiceError, match="invalid_client") as wrong:
            AdobeFlowServiceHook("aep_wrong").get_flow(TABLE_FLOW_ID)
        texts += exception_texts(wrong.value)
        texts += [str(AdobeFlowServiceHook("aep_wrong").test_connection())]
        texts += [str(AdobeFlowServiceHook().test_connection())]
        texts += [json.dumps(request.to_dict()) for request in aep_emulator.requests]

    captured = capfd.readouterr()
    texts += [captured.out, captured.err, caplog.text, *(record.getMessage() for record in caplog.records)]
    stored = [text for dag_run in dag_runs for text in stored_texts([dag_run.dag_id], run_id=dag_run.run_id)]
    texts += stored
    soak = fault_soak.result
    texts += [fault_soak.output, *soak.texts]

    assert len(canary.tokens) >= 3, "tokens must have been refreshed for the search to mean something"
    assert sum(text.startswith("rendered ") for text in stored) >= 5, "rendered template fields must be stored"
    assert any(text.startswith("xcom ") and "flow_run" in text for text in stored), "run summaries must be stored"
    if task_state_store_model() is not None:  # Airflow >= 3.3
        assert any(text.startswith("task state ") for text in stored), "task state records must be stored"
    assert "invalid_client" in captured.out, "the wrong-secret failure must be in the task log"
    assert canary.find(texts) == []
    assert [text for text in texts if WRONG_SECRET in text] == []
    assert soak.canary.find(texts) == []
    assert soak.canary.tokens, "the soak issued tokens to search for"
