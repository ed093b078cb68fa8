"""OpenLineage (the ``openlineage`` extra): the operators name what a flow read and wrote, and how its run went."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from airflow.sdk import DAG
from dagtest import task_states, xcom

from airflow_flowrun.emulator import FAILING_FLOW_ID, FILE_FLOW_ID, ORG_ID, TABLE_FLOW_ID
from airflow_flowrun.emulator.connections import SOURCE_BUCKET, connection_id, dataset_id
from airflow_flowrun.emulator.seeds import CLIENT_SECRET
from airflow_flowrun.emulator.tokens import TOKEN_PREFIX
from airflow_flowrun.endpoints import FlowEndpoints
from airflow_flowrun.openlineage import S3_CONNECTION_SPEC_ID, build_lineage
from airflow_flowrun.operators.flow_run import AdobeFileFlowRunOperator, AdobeTableFlowRunOperator

pytest.importorskip("airflow.providers.openlineage", reason="needs the openlineage extra")

DAY = datetime(2026, 11, 27, tzinfo=UTC)
WINDOW = {"window_start": int(DAY.timestamp()), "window_end": int(DAY.timestamp()) + 3600}
ORG_NAMESPACE = f"aep://{ORG_ID.removesuffix('@AdobeOrg')}"
MODES = {"sync": {}, "deferrable": {"deferrable": True}}
pytestmark = pytest.mark.usefixtures("warm_dag_test")


@dataclass
class TaskInstanceStandIn:
    """What the OpenLineage listener hands the operator, as far as the operator reads it: the task's XComs."""

    xcoms: dict[str, object]
    task_id: str = "ingest"
    map_index: int = -1

    def xcom_pull(self, task_ids: str, key: str = "return_value", map_indexes: int = -1) -> object:
        assert (task_ids, map_indexes) == (self.task_id, self.map_index)
        return self.xcoms.get(key)


def finished(dag_run) -> TaskInstanceStandIn:
    """The task instance ``ingest`` of a finished ``dag.test()`` run."""
    return TaskInstanceStandIn({key: xcom(dag_run, "ingest", key) for key in ("return_value", "flow_run")})


def ingestion(dag_id: str, flow_id: str = FILE_FLOW_ID, **kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=DAY, catchup=False) as dag:
        AdobeFileFlowRunOperator(task_id="ingest", flow_id=flow_id, poll_interval=0.2, **WINDOW, **kwargs)
    return dag


def named(dataset) -> tuple[str, str]:
    return dataset.namespace, dataset.name


def test_on_start_names_the_s3_folder_read_and_the_aep_dataset_written(emu):
    operator = AdobeFileFlowRunOperator(task_id="ingest", flow_id=FILE_FLOW_ID, **WINDOW)

    lineage = operator.get_openlineage_facets_on_start()

    assert [named(d) for d in lineage.inputs] == [(f"s3://{SOURCE_BUCKET}", FILE_FLOW_ID[:8])]
    assert [named(d) for d in lineage.outputs] == [(ORG_NAMESPACE, f"prod/datasets/{dataset_id(FILE_FLOW_ID)}")]
    assert lineage.run_facets == {}, "no run exists before execute()"


def test_a_source_without_an_upstream_name_is_named_as_the_aep_source_connection(emu):
    operator = AdobeTableFlowRunOperator(task_id="ingest", flow_id=TABLE_FLOW_ID, delta_column="updated_at", **WINDOW)

    (source,) = operator.get_openlineage_facets_on_start().inputs

    assert named(source) == (ORG_NAMESPACE, f"prod/sourceConnections/{connection_id('source', TABLE_FLOW_ID)}")


def test_the_flow_connections_are_read_once_per_operator(emu):
    operator = AdobeFileFlowRunOperator(task_id="ingest", flow_id=FILE_FLOW_ID, **WINDOW)

    first, second = operator.get_openlineage_facets_on_start(), operator.get_openlineage_facets_on_start()

    assert first.outputs == second.outputs
    assert sum(r.path.endswith(f"/flows/{FILE_FLOW_ID}") for r in emu.requests) == 1


@pytest.mark.parametrize("mode", MODES)
def test_on_complete_carries_what_the_run_wrote_and_its_id(emu, run_dag, mode):
    dag = ingestion(f"lineage_complete_{mode}", **MODES[mode])
    dag_run = run_dag(dag, logical_date=None)
    assert task_states(dag_run) == {"ingest": "success"}
    summary = xcom(dag_run, "ingest", "flow_run")

    lineage = dag.get_task("ingest").get_openlineage_facets_on_complete(finished(dag_run))

    (output,) = lineage.outputs
    assert named(output) == (ORG_NAMESPACE, f"prod/datasets/{dataset_id(FILE_FLOW_ID)}")
    statistics = output.outputFacets["outputStatistics"]
    assert (statistics.rowCount, statistics.size) == (summary["output_records"], summary["output_bytes"])
    assert summary["output_records"] > 0
    query = lineage.run_facets["externalQuery"]
    assert (query.externalQueryId, query.source) == (summary["run_id"], ORG_NAMESPACE)
    assert "errorMessage" not in lineage.run_facets


def test_on_failure_carries_the_run_errors(emu, run_dag):
    dag = ingestion("lineage_failed", flow_id=FAILING_FLOW_ID)
    dag_run = run_dag(dag, logical_date=None)
    assert task_states(dag_run) == {"ingest": "failed"}
    summary = xcom(dag_run, "ingest", "flow_run")

    lineage = dag.get_task("ingest").get_openlineage_facets_on_failure(finished(dag_run))

    error = lineage.run_facets["errorMessage"]
    assert summary["errors"], "the emulator's failing flow reports its errors"
    for entry in summary["errors"]:
        assert f"{entry['code']}: {entry['message']}" in error.message
    assert f"Flow run {summary['run_id']} ended with status 'failed'" in error.message
    assert lineage.run_facets["externalQuery"].externalQueryId == summary["run_id"]
    assert [named(d) for d in lineage.outputs] == [(ORG_NAMESPACE, f"prod/datasets/{dataset_id(FAILING_FLOW_ID)}")]


def test_unreadable_flow_connections_leave_the_datasets_out_and_keep_the_run(emu):
    emu.inject("status", status=404, path="/sourceConnections/")
    operator = AdobeFileFlowRunOperator(task_id="ingest", flow_id=FILE_FLOW_ID, **WINDOW)

    lineage = operator.get_openlineage_facets_on_complete(TaskInstanceStandIn({"return_value": "run-1"}))

    assert (lineage.inputs, lineage.outputs) == ([], [])
    assert lineage.run_facets["externalQuery"].externalQueryId == "run-1"


def test_run_counts_go_on_the_dataset_only_when_the_flow_writes_one():
    source = {"id": "src-1", "connectionSpec": {"id": S3_CONNECTION_SPEC_ID}, "params": {"path": "/landing"}}
    summary = {"run_id": "run-1", "status": "success", "output_records": 10, "output_bytes": 99, "errors": []}

    def lineage(*dataset_ids: str):
        endpoints = FlowEndpoints(FILE_FLOW_ID, (source,), dataset_ids)
        return build_lineage(endpoints, org_id=ORG_ID, sandbox="dev", summary=summary)

    (one,) = lineage("ds1").outputs
    assert one.outputFacets["outputStatistics"].rowCount == 10
    two = lineage("ds1", "ds2").outputs
    assert [(named(d), d.outputFacets) for d in two] == [
        ((ORG_NAMESPACE, f"dev/datasets/{i}"), {}) for i in ("ds1", "ds2")
    ]
    assert [named(d) for d in lineage("ds1").inputs] == [("s3://landing", "/")], "a whole bucket is named /"


def test_the_operators_import_without_the_openlineage_extra():
    blocked = ("openlineage", "airflow.providers.openlineage.extractors", "airflow.providers.common.compat.openlineage")
    code = f"import sys; sys.modules.update(dict.fromkeys({blocked!r})); import airflow_flowrun.operators.flow_run"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- the OpenLineage listener, writing its events to a file, under dag.test() ---------------------


@pytest.fixture
def lineage_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """OpenLineage on, writing to a file; returns a reader of the events written (one JSON object a line).

    The OpenLineage plugin decides once per process, when Airflow loads plugins, whether to register
    its listener with the task runner's listener manager: only when a transport is configured by then
    (outside pytest, a transport set before Airflow starts is enough; ``dag.test()`` then emits). In
    this session Airflow is long loaded, so a fresh listener is registered here for the test, in
    place of any other; its client reads the transport when it first emits.
    """
    from airflow.providers.openlineage import conf as ol_conf
    from airflow.providers.openlineage.plugins.listener import OpenLineageListener

    try:
        from airflow.sdk.listener import get_listener_manager
    except ImportError:  # Airflow < 3.2
        from airflow.listeners.listener import get_listener_manager  # type: ignore[no-redef]

    path = tmp_path / "openlineage.ndjson"
    transport = {"type": "file", "log_file_path": str(path), "append": True}  # one file, a line per event
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", json.dumps(transport))
    monkeypatch.delenv("AIRFLOW__OPENLINEAGE__DISABLED", raising=False)
    for name in dir(ol_conf):  # its getters cache outside pytest (and in older provider versions)
        getattr(getattr(ol_conf, name), "cache_clear", lambda: None)()
    manager = get_listener_manager()
    others = [plugin for plugin in manager.pm.get_plugins() if isinstance(plugin, OpenLineageListener)]
    for other in others:
        manager.pm.unregister(other)
    listener = OpenLineageListener()
    manager.add_listener(listener)

    def read() -> list[dict]:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []

    yield read
    manager.pm.unregister(listener)
    for other in others:
        manager.add_listener(other)


def task_event(events: list[dict], event_type: str) -> dict:
    """The one event of ``event_type`` for the task ``ingest``."""
    (event,) = [e for e in events if e["eventType"] == event_type and e["job"]["name"].endswith(".ingest")]
    return event


@pytest.mark.parametrize("mode", MODES)
def test_the_listener_emits_the_ingestion_on_complete(emu, run_dag, lineage_events, mode):
    dag_run = run_dag(ingestion(f"lineage_listener_{mode}", **MODES[mode]), logical_date=None)
    assert task_states(dag_run) == {"ingest": "success"}
    summary = xcom(dag_run, "ingest", "flow_run")

    events = lineage_events()
    complete = task_event(events, "COMPLETE")

    (output,) = complete["outputs"]
    assert (output["namespace"], output["name"]) == (ORG_NAMESPACE, f"prod/datasets/{dataset_id(FILE_FLOW_ID)}")
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == summary["output_records"] > 0
    assert output["outputFacets"]["outputStatistics"]["size"] == summary["output_bytes"]
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [(f"s3://{SOURCE_BUCKET}", FILE_FLOW_ID[:8])]
    query = complete["run"]["facets"]["externalQuery"]
    assert (query["externalQueryId"], query["source"]) == (summary["run_id"], ORG_NAMESPACE)
    # START comes before the run exists, and again on resume after a deferral (Airflow 3.3 calls the listener then)
    starts = [e for e in events if e["eventType"] == "START"]
    assert len(starts) == (2 if mode == "deferrable" else 1)
    for start in starts:
        assert [o["name"] for o in start["outputs"]] == [output["name"]]
        assert "externalQuery" not in start["run"]["facets"]
    written = "\n".join(json.dumps(e) for e in events)
    assert CLIENT_SECRET not in written
    assert TOKEN_PREFIX not in written


@pytest.mark.parametrize("mode", MODES)
def test_the_listener_emits_the_run_errors_on_failure(emu, run_dag, lineage_events, mode):
    dag_run = run_dag(ingestion(f"lineage_listener_failed_{mode}", FAILING_FLOW_ID, **MODES[mode]), logical_date=None)
    assert task_states(dag_run) == {"ingest": "failed"}
    summary = xcom(dag_run, "ingest", "flow_run")

    fail = task_event(lineage_events(), "FAIL")

    facets = fail["run"]["facets"]
    assert facets["externalQuery"]["externalQueryId"] == summary["run_id"]
    assert summary["errors"][0]["code"] in facets["errorMessage"]["message"]
    assert [o["name"] for o in fail["outputs"]] == [f"prod/datasets/{dataset_id(FAILING_FLOW_ID)}"]


@pytest.mark.parametrize("mode", MODES)
def test_a_run_that_outlives_the_timeout_is_named_in_the_fail_event(emu, run_dag, lineage_events, mode):
    emu.configure_flow(FILE_FLOW_ID, duration=30)
    dag_run = run_dag(ingestion(f"lineage_listener_timeout_{mode}", timeout=1, **MODES[mode]), logical_date=None)
    assert task_states(dag_run) == {"ingest": "failed"}

    fail = task_event(lineage_events(), "FAIL")

    assert fail["run"]["facets"]["externalQuery"]["externalQueryId"] == xcom(dag_run, "ingest")
    assert "outputStatistics" not in fail["outputs"][0].get("outputFacets", {})


def test_a_task_that_fails_before_its_run_exists_still_emits_its_fail_event(emu, run_dag, lineage_events):
    emu.inject("status", status=400, method="POST", path="/runs$")
    dag_run = run_dag(ingestion("lineage_listener_rejected"), logical_date=None)
    assert task_states(dag_run) == {"ingest": "failed"}

    fail = task_event(lineage_events(), "FAIL")  # no XCom read in the listener's fork: it would hang there

    assert "externalQuery" not in fail["run"]["facets"]
    assert [o["name"] for o in fail["outputs"]] == [f"prod/datasets/{dataset_id(FILE_FLOW_ID)}"]
