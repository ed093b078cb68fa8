"""Errors keep their whole text across processes, and the triggerer's errors keep their class."""

from __future__ import annotations

import asyncio
import json
import pickle

import pytest

from airflow_flowrun._compat import AirflowFailException
from airflow_flowrun.exceptions import (
    FlowRunFailedError,
    FlowRunRowErrorsError,
    FlowRunTimeoutError,
    FlowServiceError,
    FlowServiceFatalError,
    InvalidParameterError,
)
from airflow_flowrun.outcome import validate_trigger_event
from airflow_flowrun.triggers.flow_run import AdobeFlowRunTrigger

RUN_ID = "0f4c5b8e-3a2d-4c1b-9e8f-7a6b5c4d3e2f"
ERRORS = [
    FlowRunFailedError(RUN_ID, "failed", [{"code": "CONNECTOR-1001-500", "message": "boom"}], "https://ui"),
    FlowRunFailedError(RUN_ID, "success", [], "https://ui", reason="succeeded with 3 failed records"),
    FlowRunRowErrorsError(RUN_ID, "success", [{"code": "ROW-1", "message": "bad row"}], "https://ui", reason="rows"),
    FlowServiceError("lost", status=502, code="FLOW-1102-502", request_id="r1", method="GET", url="https://gw/runs"),
    FlowServiceFatalError("forbidden", status=403, code="403003", method="GET", url="https://gw/runs"),
    InvalidParameterError("window_start", "yesterday", "is not a time"),
    FlowRunTimeoutError("Waiting for flow run timed out"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_errors_survive_pickling_with_their_whole_text(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.__dict__ == error.__dict__


def test_row_errors_under_fail_on_row_errors_are_not_retryable():
    assert isinstance(ERRORS[2], AirflowFailException)
    assert isinstance(ERRORS[2], FlowRunFailedError)
    assert not isinstance(ERRORS[0], AirflowFailException)


@pytest.mark.parametrize("error", ERRORS[3:6], ids=lambda e: type(e).__name__)
def test_error_event_rebuilds_the_exception_the_trigger_met(error):
    from airflow_flowrun.exceptions import error_to_event

    event = {"status": "error", "run_id": RUN_ID, "message": str(error), "flow_run": None,
             "fatal": isinstance(error, AirflowFailException), "error": error_to_event(error)}  # fmt: skip
    json.dumps(event)  # events cross processes as JSON
    with pytest.raises(type(error)) as raised:
        validate_trigger_event(event, RUN_ID)
    assert str(raised.value) == str(error)


def test_broken_connection_in_the_triggerer_fails_like_in_the_worker(monkeypatch):
    from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

    broken = '{"conn_type": "aep", "login": "id", "password": "secret-value", "host": "http://127.0.0.1:9"}'
    monkeypatch.setenv("AIRFLOW_CONN_AEP_BROKEN", broken)  # no extra.org_id
    with pytest.raises(InvalidParameterError) as in_worker:
        _ = AdobeFlowServiceHook("aep_broken").settings
    trigger = AdobeFlowRunTrigger(run_id=RUN_ID, aep_conn_id="aep_broken", poll_interval=1)
    event = asyncio.run(trigger.wait_for_outcome())
    assert (event["status"], event["fatal"]) == ("error", True)
    with pytest.raises(InvalidParameterError) as in_triggerer:
        validate_trigger_event(json.loads(json.dumps(event)), RUN_ID)
    assert str(in_triggerer.value) == str(in_worker.value)
    assert "secret-value" not in json.dumps(event)
