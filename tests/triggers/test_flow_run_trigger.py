"""AdobeFlowRunTrigger against the emulator over real loopback HTTP: one event, saying how the wait ended."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
import uuid

import pytest

from airflow_flowrun.emulator import FAILING_FLOW_ID, FILE_FLOW_ID, ROW_ERRORS_FLOW_ID, TABLE_FLOW_ID
from airflow_flowrun.exceptions import InvalidParameterError
from airflow_flowrun.triggers.flow_run import AdobeFlowRunTrigger

POLL = 0.2


def flow_service_gets(emulator, run_id: str) -> list:
    """The emulator's recorded reads of ``run_id`` (single and batched)."""
    return [r for r in emulator.requests if r.method == "GET" and run_id in (r.path + r.query)]


def test_succeeded_run_yields_success_with_summary(emulator, create_run, run_trigger):
    run_id = create_run(TABLE_FLOW_ID, delta_column="updated_at")

    event = run_trigger(AdobeFlowRunTrigger(run_id, poll_interval=POLL))

    assert event["status"] == "success"
    assert event["run_id"] == run_id
    assert run_id in event["message"]
    summary = event["flow_run"]
    assert summary["run_id"] == run_id
    assert summary["flow_id"] == TABLE_FLOW_ID
    assert summary["status"] == "success"
    assert summary["completed_at"].endswith("Z")
    assert summary["errors"] == []
    assert summary["ui_url"].endswith(f"/dataflows/{TABLE_FLOW_ID}/activity/{run_id}")
    json.dumps(event)  # the event travels through the triggerer's database


def test_failed_run_yields_failed_with_errors_and_link(emulator, create_run, run_trigger):
    run_id = create_run(FAILING_FLOW_ID)

    event = run_trigger(AdobeFlowRunTrigger(run_id, poll_interval=POLL))

    assert event["status"] == "failed"
    assert event["flow_run"]["status"].lower() == "failed"
    assert event["flow_run"]["errors"], "a failed run reports its errors"
    first_error = event["flow_run"]["errors"][0]
    assert first_error["code"] in event["message"]
    assert event["flow_run"]["ui_url"] in event["message"]


def test_partial_run_is_a_success_that_carries_its_row_errors(emulator, create_run, run_trigger):
    run_id = create_run(ROW_ERRORS_FLOW_ID)

    event = run_trigger(AdobeFlowRunTrigger(run_id, poll_interval=POLL))

    assert event["status"] == "success", "row errors are the operator's to judge, not the trigger's"
    assert event["flow_run"]["failed_records"] > 0
    assert event["flow_run"]["errors"]


def test_deadline_yields_timeout_naming_run_last_status_and_link(emulator, create_run, run_trigger):
    emulator.configure_flow(FILE_FLOW_ID, duration=60)
    run_id = create_run(FILE_FLOW_ID)

    started = time.monotonic()
    event = run_trigger(AdobeFlowRunTrigger(run_id, poll_interval=POLL, end_time=time.time() + 1.0))

    assert time.monotonic() - started < 3
    assert event["status"] == "timeout"
    message = event["message"]
    assert "timed out" in message
    assert run_id in message
    assert "'inProgress'" in message
    assert event["flow_run"]["ui_url"] in message
    assert "cannot cancel" in message
    assert event["flow_run"]["status"] == "inProgress"


def test_deadline_is_checked_before_the_status(emulator, create_run, run_trigger):
    run_id = create_run(FILE_FLOW_ID)
    time.sleep(1.2)  # the run has succeeded by now, but the deadline passed first

    event = run_trigger(AdobeFlowRunTrigger(run_id, poll_interval=POLL, end_time=time.time() - 1))

    assert event["status"] == "timeout"
    assert run_id in event["message"]
    assert flow_service_gets(emulator, run_id) == []


def test_run_not_visible_yet_is_waited_for(emulator, create_run, run_trigger):
    emulator.visibility_delay = 1.0
    run_id = create_run(FILE_FLOW_ID)

    event = run_trigger(AdobeFlowRunTrigger(run_id, poll_interval=POLL, created_at=time.time()))

    assert event["status"] == "success"
    single_reads = [r.status for r in flow_service_gets(emulator, run_id) if r.path.endswith(run_id)]
    assert 404 in single_reads, "the run was read on its own while the list did not return it"


def test_unknown_run_after_the_grace_period_is_an_error(emulator, run_trigger):
    run_id = str(uuid.uuid4())

    event = run_trigger(AdobeFlowRunTrigger(run_id, poll_interval=POLL, created_at=time.time() - 120))

    assert event["status"] == "error"
    assert "404" in event["message"]
    assert run_id in event["message"]
    assert event["flow_run"] is None


def test_bad_credentials_are_an_error_that_shows_no_secret(emulator, monkeypatch, run_trigger):
    connection = json.loads(emulator.connection)
    connection["password"] = "wrong-secret-value-123"
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", json.dumps(connection))

    event = run_trigger(AdobeFlowRunTrigger(str(uuid.uuid4()), poll_interval=POLL))

    assert event["status"] == "error"
    assert "invalid_client" in event["message"]
    assert "wrong-secret-value-123" not in json.dumps(event)
    assert emulator.token_requests == 1, "a refused credential is not retried"


def test_missing_connection_is_an_error_naming_it(emulator, run_trigger):
    event = run_trigger(AdobeFlowRunTrigger(str(uuid.uuid4()), aep_conn_id="aep_nowhere", poll_interval=POLL))

    assert event["status"] == "error"
    assert "aep_nowhere" in event["message"]


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 503, "nth": [1, 2]},
        {"kind": "status", "status": 429, "retry_after": 0.3, "nth": [1]},
        {"kind": "drop", "nth": [1]},
    ],
    ids=["503-twice", "429-retry-after", "dropped-connection"],
)
def test_transient_failures_are_retried(emulator, create_run, run_trigger, fault):
    run_id = create_run(FILE_FLOW_ID)
    emulator.inject(**fault, path="/runs")

    event = run_trigger(AdobeFlowRunTrigger(run_id, poll_interval=POLL))

    assert event["status"] == "success"
    assert emulator.stats()["faults_injected"], "the fault did happen"


def test_retries_exhausted_is_an_error(emulator, create_run, run_trigger):
    run_id = create_run(FILE_FLOW_ID)
    emulator.inject("status", status=503, path="/runs")

    event = run_trigger(AdobeFlowRunTrigger(run_id, poll_interval=POLL))

    assert event["status"] == "error"
    assert "503" in event["message"]


def test_refused_token_is_renewed_once(emulator, create_run, run_trigger):
    run_id = create_run(FILE_FLOW_ID)
    emulator.inject("status", status=401, path="/runs", nth=[1])

    event = run_trigger(AdobeFlowRunTrigger(run_id, poll_interval=POLL))

    assert event["status"] == "success"
    assert emulator.token_requests == 3, "creation's token, the trigger's token, the renewed one"


def test_serialize_round_trip_is_json_safe_and_recreates_the_trigger():
    trigger = AdobeFlowRunTrigger(
        str(uuid.uuid4()), aep_conn_id="aep_other", poll_interval=7, end_time=1_900_000_000.5, created_at=1_800_000_000
    )

    classpath, kwargs = trigger.serialize()
    decoded = json.loads(json.dumps(kwargs))

    assert classpath == "airflow_flowrun.triggers.flow_run.AdobeFlowRunTrigger"
    assert decoded == kwargs
    assert AdobeFlowRunTrigger(**decoded).serialize() == (classpath, kwargs)
    assert kwargs["poll_interval"] == 7.0
    assert kwargs["end_time"] == 1_900_000_000.5


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"run_id": "not-a-run"}, "run_id"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": "30"}, "poll_interval"),
        ({"end_time": float("nan")}, "end_time"),
    ],
)
def test_bad_arguments_are_refused_naming_the_parameter(kwargs, param):
    arguments = {"run_id": str(uuid.uuid4()), **kwargs}

    with pytest.raises(InvalidParameterError, match=param):
        AdobeFlowRunTrigger(**arguments)


def test_trigger_recreated_from_its_kwargs_continues_after_a_triggerer_restart(emulator, create_run, event_of):
    emulator.configure_flow(FILE_FLOW_ID, duration=1.5)
    run_id = create_run(FILE_FLOW_ID)
    trigger = AdobeFlowRunTrigger(run_id, poll_interval=POLL, end_time=time.time() + 30, created_at=time.time())

    async def shut_down_mid_wait():
        waiting = asyncio.create_task(event_of(trigger))
        await asyncio.sleep(0.5)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)

    asyncio.run(shut_down_mid_wait())
    classpath, kwargs = trigger.serialize()
    module_name, class_name = classpath.rsplit(".", 1)
    recreated = getattr(importlib.import_module(module_name), class_name)(**json.loads(json.dumps(kwargs)))
    event = asyncio.run(asyncio.wait_for(event_of(recreated), 10))

    assert event["status"] == "success"
    assert event["run_id"] == run_id
