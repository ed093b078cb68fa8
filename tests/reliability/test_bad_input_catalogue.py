"""A catalogue of bad input: each fails clearly, as early as it can, once, and without Airflow retries.

Every case is a DAG author's mistake (or Adobe's refusal of one). The rules:

- the error names the parameter and its value, or Adobe's error code;
- what can be detected locally makes no HTTP call at all (the emulator's request log stays empty);
- what only Adobe can refuse is refused once per endpoint: every refusal carries the expected status and
  no endpoint is asked again (a 401 is repeated once with a fresh token, by contract);
- the task fails on its first try although it has ``retries=2``.

Mistakes in literal arguments fail when the DAG is parsed; templated values and connection fields
fail when the task runs.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_flowrun import outcome
from airflow_flowrun.emulator import (
    DISABLED_FLOW_ID,
    FAILING_FLOW_ID,
    FILE_FLOW_ID,
    RECURRING_FLOW_ID,
    TABLE_FLOW_ID,
)
from airflow_flowrun.emulator.requestlog import route_label
from airflow_flowrun.exceptions import InvalidParameterError
from airflow_flowrun.operators.flow_run import AdobeFileFlowRunOperator, AdobeTableFlowRunOperator
from airflow_flowrun.sensors.flow_run import AdobeFlowRunSensor

DAY = datetime(2026, 11, 20, tzinfo=UTC)
W0 = int(DAY.timestamp())
W1 = W0 + 3600
BAD_CONN_ID = "aep_bad"
UNKNOWN_UUID = "0badf10e-0000-4000-8000-000000000000"

TABLE = AdobeTableFlowRunOperator
FILE = AdobeFileFlowRunOperator
SENSOR = AdobeFlowRunSensor


@dataclass(frozen=True)
class BadInput:
    """One mistake and how the provider must answer it.

    :param operator: the operator (or sensor) class the DAG author used
    :param kwargs: its arguments, over a valid table ingestion of ``[W0, W1)`` (or a sensor of an unknown run)
    :param says: fragments the error text must contain: the parameter and value, or Adobe's code
    :param refused_with: the HTTP status of Adobe's refusal; None when nothing may be sent at all
    :param repeats: how often each refusing endpoint may answer it, (least, most): once, twice for a 401
        (repeated once with a new token), a few polls for a run that never appears
    :param at_parse: the mistake is caught when the DAG file is parsed, not when the task runs
    :param conn: changes to the emulator's connection, served as ``aep_bad``
    :param logical_date: of the DAG run (None: a manual run with no data interval)
    """

    operator: type
    kwargs: dict[str, Any]
    says: tuple[str, ...]
    refused_with: int | None = None
    repeats: tuple[int, int] = (1, 1)
    at_parse: bool = False
    conn: dict[str, Any] = field(default_factory=dict)
    logical_date: datetime | None = None

    def task_kwargs(self) -> dict[str, Any]:
        if self.operator is SENSOR:
            base: dict[str, Any] = {"run_id": UNKNOWN_UUID, "poke_interval": 0.2, "timeout": 30}
        else:
            base = {"flow_id": TABLE_FLOW_ID, "window_start": W0, "window_end": W1, "poll_interval": 0.2}
            if self.operator is TABLE:
                base["delta_column"] = "updated_at"
            else:
                base["flow_id"] = FILE_FLOW_ID
        if self.conn:
            base["aep_conn_id"] = BAD_CONN_ID
        return {**base, **self.kwargs}


CASES: dict[str, BadInput] = {
    # -- flow ids --------------------------------------------------------------------------------
    "flow_id_not_a_uuid": BadInput(TABLE, {"flow_id": "not-a-flow"}, ("flow_id='not-a-flow'", "UUID"), at_parse=True),
    "flow_id_empty": BadInput(TABLE, {"flow_id": ""}, ("flow_id=''", "UUID"), at_parse=True),
    "flow_id_without_hyphens": BadInput(
        TABLE,
        {"flow_id": TABLE_FLOW_ID.replace("-", "")},
        (f"flow_id='{TABLE_FLOW_ID.replace('-', '')}'",),
        at_parse=True,
    ),
    "flow_id_in_braces": BadInput(
        TABLE, {"flow_id": f"{{{TABLE_FLOW_ID}}}"}, ("flow_id='{c1a19e2a", "8-4-4-4-12"), at_parse=True
    ),
    "flow_id_template_renders_garbage": BadInput(
        TABLE, {"flow_id": "{{ var.value.get('aep_no_such_variable', 'None') }}"}, ("flow_id='None'", "UUID")
    ),
    # -- windows ---------------------------------------------------------------------------------
    "window_reversed": BadInput(TABLE, {"window_start": W1, "window_end": W0}, (f"window_end={W0}", "reversed")),
    "window_empty": BadInput(TABLE, {"window_start": W0, "window_end": W0}, (f"window_end={W0}", "empty")),
    "window_start_in_milliseconds": BadInput(
        TABLE, {"window_start": W0 * 1000}, (f"window_start={W0 * 1000}", "milliseconds")
    ),
    "window_end_in_milliseconds_as_string": BadInput(
        TABLE, {"window_end": str(W1 * 1000)}, (f"window_end='{W1 * 1000}'", "milliseconds")
    ),
    "window_start_naive_datetime": BadInput(
        TABLE, {"window_start": datetime(2026, 11, 20)}, ("window_start=datetime.datetime(2026, 11, 20, 0, 0)", "naive")
    ),
    "window_end_iso_without_offset": BadInput(
        TABLE, {"window_end": "2026-11-20T01:00:00"}, ("window_end='2026-11-20T01:00:00'", "no UTC offset")
    ),
    "window_start_unparseable": BadInput(
        TABLE, {"window_start": "yesterday"}, ("window_start='yesterday'", "ISO-8601")
    ),
    "window_start_before_1970": BadInput(TABLE, {"window_start": -3600}, ("window_start=-3600", "before 1970")),
    "window_start_only": BadInput(TABLE, {"window_start": W0, "window_end": None}, ("window_end=None",), at_parse=True),
    "window_end_only": BadInput(TABLE, {"window_start": None, "window_end": W1}, ("window_start=None",), at_parse=True),
    "no_window_on_a_manual_run": BadInput(
        TABLE, {"window_start": None, "window_end": None}, ("window_start/window_end", "no data interval")
    ),
    "start_time_in_milliseconds": BadInput(
        TABLE, {"start_time": W1 * 1000}, (f"start_time={W1 * 1000}", "milliseconds")
    ),
    "start_time_unparseable": BadInput(TABLE, {"start_time": "soon"}, ("start_time='soon'",)),
    # -- delta column ----------------------------------------------------------------------------
    "delta_column_on_a_file_flow": BadInput(
        FILE, {"delta_column": "updated_at"}, ("delta_column='updated_at'", "file-based"), at_parse=True
    ),
    "delta_column_blank": BadInput(TABLE, {"delta_column": "   "}, ("delta_column='   '",)),
    "delta_column_padded": BadInput(TABLE, {"delta_column": " updated_at"}, ("delta_column=' updated_at'",)),
    # -- waiting ---------------------------------------------------------------------------------
    "poll_interval_zero": BadInput(TABLE, {"poll_interval": 0}, ("poll_interval=0",), at_parse=True),
    "timeout_negative": BadInput(TABLE, {"timeout": -60}, ("timeout=-60",), at_parse=True),
    "timeout_negative_timedelta": BadInput(
        TABLE, {"timeout": timedelta(minutes=-1)}, ("timeout=-60.0",), at_parse=True
    ),
    # -- connection ------------------------------------------------------------------------------
    "conn_missing_org_id": BadInput(
        TABLE, {}, ("aep_bad' extra.org_id=None", "required"), conn={"extra": {"org_id": None}}
    ),
    "conn_org_id_without_adobeorg": BadInput(
        TABLE,
        {},
        ("extra.org_id='EMULATOR0000000000000000'", "@AdobeOrg"),
        conn={"extra": {"org_id": "EMULATOR0000000000000000"}},
    ),
    "conn_missing_client_id": BadInput(TABLE, {}, ("login (OAuth client id)=None", "required"), conn={"login": None}),
    "conn_missing_client_secret": BadInput(
        TABLE, {}, ("password (OAuth client secret)=None", "required"), conn={"password": None}
    ),
    "conn_host_not_http": BadInput(
        TABLE, {}, ("host='ftp://platform.adobe.io'", "http(s) URL"), conn={"host": "ftp://platform.adobe.io"}
    ),
    "conn_host_malformed_port": BadInput(
        TABLE, {}, ("host='https://platform.adobe.io:port'", "port"), conn={"host": "https://platform.adobe.io:port"}
    ),
    "conn_host_with_spaces": BadInput(
        TABLE, {}, ("host='https://platform adobe io'",), conn={"host": "https://platform adobe io"}
    ),
    "conn_host_unclosed_ipv6_bracket": BadInput(TABLE, {}, ("host='https://[::1'",), conn={"host": "https://[::1"}),
    "conn_ims_token_url_without_scheme": BadInput(
        TABLE,
        {},
        ("extra.ims_token_url='ims-na1.adobelogin.com/ims/token/v3'",),
        conn={"extra": {"ims_token_url": "ims-na1.adobelogin.com/ims/token/v3"}},
    ),
    "conn_timeout_not_a_number": BadInput(
        TABLE, {}, ("extra.timeout='thirty'", "positive number"), conn={"extra": {"timeout": "thirty"}}
    ),
    "conn_sandbox_with_spaces": BadInput(
        TABLE, {}, ("extra.sandbox_name='my sandbox'",), conn={"extra": {"sandbox_name": "my sandbox"}}
    ),
    # -- refused by Adobe: one call, no retry ---------------------------------------------------
    "unknown_sandbox": BadInput(
        TABLE, {}, ("FLOW-2100-404", "nosuchbox"), refused_with=404, conn={"extra": {"sandbox_name": "nosuchbox"}}
    ),
    "wrong_client_secret": BadInput(
        TABLE, {}, ("invalid_client", "HTTP 401"), refused_with=401, conn={"password": "not-the-secret"}
    ),
    "wrong_client_id": BadInput(
        TABLE, {}, ("invalid_client", "HTTP 401"), refused_with=401, conn={"login": "someone-else"}
    ),
    "org_id_of_another_org": BadInput(
        TABLE,
        {},
        ("403025", "Profile is not valid"),
        refused_with=403,
        conn={"extra": {"org_id": "OTHER0000000000000000000@AdobeOrg"}},
    ),
    "recurring_flow": BadInput(TABLE, {"flow_id": RECURRING_FLOW_ID}, ("FLOW-1386-400", "'day'"), refused_with=400),
    "disabled_flow": BadInput(TABLE, {"flow_id": DISABLED_FLOW_ID}, ("FLOW-1384-400", "disabled"), refused_with=400),
    "unknown_flow": BadInput(TABLE, {"flow_id": UNKNOWN_UUID}, ("FLOW-1430-400", UNKNOWN_UUID), refused_with=400),
    "first_table_run_without_delta_column": BadInput(
        TABLE, {"delta_column": None}, ("FLOW-1383-400", "deltaColumn"), refused_with=400
    ),
    "delta_column_differs_from_stored": BadInput(
        TABLE, {"flow_id": FAILING_FLOW_ID, "delta_column": "id"}, ("FLOW-1382-400", "'updated_at'"), refused_with=400
    ),
    "delta_column_not_a_source_column": BadInput(
        TABLE, {"delta_column": "modified"}, ("FLOW-1384-400", "'modified'"), refused_with=400
    ),
    # -- sensor ----------------------------------------------------------------------------------
    "sensor_run_id_not_a_uuid": BadInput(SENSOR, {"run_id": "12345"}, ("run_id='12345'",), at_parse=True),
    "sensor_run_id_template_renders_garbage": BadInput(
        SENSOR, {"run_id": "{{ ti.xcom_pull(task_ids='no_such_task') }}"}, ("run_id='None'",)
    ),
    "sensor_unknown_run_id": BadInput(SENSOR, {}, ("FLOW-1101-404", UNKNOWN_UUID), refused_with=404, repeats=(2, 6)),
}


def build_dag(dag_id: str, case: BadInput) -> DAG:
    with DAG(dag_id, schedule=None, start_date=DAY, catchup=False) as dag:
        case.operator(task_id="task", retries=2, retry_delay=timedelta(0), **case.task_kwargs())
    return dag


def bad_connection(emu: Any, changes: dict[str, Any]) -> str:
    connection = {**emu.connection_dict, **{k: v for k, v in changes.items() if k != "extra"}}
    connection["extra"] = {**connection["extra"], **changes.get("extra", {})}
    return json.dumps(connection)


@pytest.mark.parametrize("name", CASES)
def test_bad_input_fails_clearly_once_and_without_airflow_retries(name, emu, run_dag, capfd, monkeypatch):
    case = CASES[name]
    monkeypatch.setattr(outcome, "VISIBILITY_GRACE", 0.5)
    if case.conn:
        monkeypatch.setenv(f"AIRFLOW_CONN_{BAD_CONN_ID.upper()}", bad_connection(emu, case.conn))

    if case.at_parse:
        with pytest.raises(InvalidParameterError) as raised:
            build_dag(f"bad_{name}", case)
        error_text = str(raised.value)
    else:
        dag_run = run_dag(build_dag(f"bad_{name}", case), logical_date=case.logical_date)
        (ti,) = dag_run.get_task_instances()
        assert (ti.state, ti.try_number) == ("failed", 1), "the task must fail on its first try, without retries"
        captured = capfd.readouterr()
        error_text = captured.out + captured.err

    for fragment in case.says:
        assert fragment in error_text, f"the error does not say {fragment!r}"
    if case.refused_with is None:
        assert emu.requests == [], "a mistake detectable locally must not cost an HTTP call"
        return
    refusals = [r for r in emu.requests if r.status is None or r.status >= 400]
    assert {r.status for r in refusals} == {case.refused_with}
    per_endpoint = Counter(route_label(r.method, r.path) for r in refusals)
    least, most = case.repeats
    assert all(least <= count <= most for count in per_endpoint.values()), f"refusals asked again: {per_endpoint}"
