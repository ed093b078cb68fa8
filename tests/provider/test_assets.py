"""Asset events that carry what an ingestion landed, in every mode, and the ``aep`` asset URI scheme."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from airflow.sdk import DAG, Asset, AssetAlias
from dagtest import task_states, xcom

from airflow_flowrun.assets import EVENT_FIELDS, create_asset, dataset_uri, openlineage_name, sanitize_uri
from airflow_flowrun.emulator import FAILING_FLOW_ID, FILE_FLOW_ID, ORG_ID, TABLE_FLOW_ID
from airflow_flowrun.emulator.connections import dataset_id
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.operators.flow_run import AdobeFileFlowRunOperator
from airflow_flowrun.sensors.flow_run import AdobeFlowRunSensor

DAY = datetime(2026, 11, 27, tzinfo=UTC)
WINDOW = {"window_start": int(DAY.timestamp()), "window_end": int(DAY.timestamp()) + 3600}
pytestmark = pytest.mark.usefixtures("warm_dag_test")


def asset_events(dag_run) -> dict[str, list[dict]]:
    """``{asset uri: [extra, ...]}`` of the asset events the tasks of ``dag_run`` emitted."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(AssetEvent).filter_by(source_dag_id=dag_run.dag_id, source_run_id=dag_run.run_id)
        events: dict[str, list[dict]] = {}
        for row in rows:
            events.setdefault(row.asset.uri, []).append(dict(row.extra))
        return events


def producer(dag_id: str, outlets: list, flow_id: str = FILE_FLOW_ID, **kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=DAY, catchup=False) as dag:
        AdobeFileFlowRunOperator(
            task_id="ingest", flow_id=flow_id, poll_interval=0.2, outlets=outlets, **WINDOW, **kwargs
        )
    return dag


MODES = {"sync": {}, "deferrable": {"deferrable": True}}


@pytest.mark.parametrize("mode", MODES)
def test_an_asset_event_carries_the_run_summary(emu, run_dag, mode):
    asset = Asset(f"aep_landing_{mode}")
    dag_run = run_dag(producer(f"asset_event_{mode}", [asset], **MODES[mode]), logical_date=None)

    assert task_states(dag_run) == {"ingest": "success"}
    summary = xcom(dag_run, "ingest", "flow_run")
    (extra,) = asset_events(dag_run)[asset.uri]
    assert extra == {field: summary[field] for field in EVENT_FIELDS}
    (run,) = emu.runs(FILE_FLOW_ID)
    assert extra["run_id"] == run["id"]
    assert (extra["window_start"], extra["window_end"]) == (WINDOW["window_start"], WINDOW["window_end"])
    assert extra["output_records"] == run["metrics"]["recordSummary"]["outputRecordCount"] > 0
    assert extra["batch_ids"]
    assert extra["ui_url"].startswith("https://experience.adobe.com/")


@pytest.mark.parametrize("mode", MODES)
def test_an_alias_emits_one_asset_per_aep_dataset_the_flow_writes(emu, run_dag, mode):
    alias = AssetAlias(f"aep_datasets_{mode}")
    dag_run = run_dag(producer(f"asset_alias_{mode}", [alias], **MODES[mode]), logical_date=None)

    assert task_states(dag_run) == {"ingest": "success"}
    expected_uri = f"aep://{ORG_ID}/prod/datasets/{dataset_id(FILE_FLOW_ID)}"
    events = asset_events(dag_run)
    assert list(events) == [expected_uri]
    (extra,) = events[expected_uri]
    assert extra["run_id"] == xcom(dag_run, "ingest")
    assert extra["batch_ids"]
    assert any("/targetConnections/" in r.path for r in emu.requests), "the dataset came from the target connection"


def test_a_run_that_is_only_started_says_so_in_its_event(emu, run_dag):
    emu.configure_flow(FILE_FLOW_ID, duration=30)
    asset = Asset("aep_started")
    dag_run = run_dag(producer("asset_started", [asset], wait_for_completion=False), logical_date=None)

    (extra,) = asset_events(dag_run)[asset.uri]
    assert extra["run_id"] == xcom(dag_run, "ingest")
    assert extra["status"] == "inProgress"
    assert extra["completed_at"] is None


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_run_emits_no_asset_event(emu, run_dag, mode):
    asset, alias = Asset(f"aep_failed_{mode}"), AssetAlias(f"aep_failed_alias_{mode}")
    dag = producer(f"asset_failed_{mode}", [asset, alias], flow_id=FAILING_FLOW_ID, **MODES[mode])
    dag_run = run_dag(dag, logical_date=None)

    assert task_states(dag_run) == {"ingest": "failed"}
    assert asset_events(dag_run) == {}


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_the_sensor_puts_the_run_summary_on_its_outlets(emu, run_dag, mode):
    run_id = AdobeFlowServiceHook().create_run(TABLE_FLOW_ID, delta_column="updated_at", **WINDOW)["id"]
    asset = Asset(f"aep_sensed_{mode}")
    with DAG(f"asset_sensor_{mode}", schedule=None, start_date=DAY, catchup=False) as dag:
        AdobeFlowRunSensor(
            task_id="wait",
            run_id=run_id,
            mode="poke" if mode == "deferrable" else mode,
            deferrable=mode == "deferrable",
            poke_interval=0.2,
            timeout=60,
            outlets=[asset],
        )
    dag_run = run_dag(dag, logical_date=None)

    assert task_states(dag_run) == {"wait": "success"}
    (extra,) = asset_events(dag_run)[asset.uri]
    assert extra["run_id"] == run_id
    assert extra["flow_id"] == TABLE_FLOW_ID
    assert extra["output_records"] == xcom(dag_run, "wait", "flow_run")["output_records"]


def test_the_aep_scheme_takes_only_dataset_uris():
    uri = dataset_uri(ORG_ID, "prod", "5f1e2d3c4b5a69788796a5b4")
    assert create_asset(org_id=ORG_ID, sandbox="prod", dataset_id="5f1e2d3c4b5a69788796a5b4").uri == uri
    assert sanitize_uri(urlsplit(uri)) == urlsplit(uri)
    assert openlineage_name(uri) == (
        f"aep://{ORG_ID.removesuffix('@AdobeOrg')}",
        "prod/datasets/5f1e2d3c4b5a69788796a5b4",
    )
    for bad, named in [
        ("aep://prod/datasets/5f1", "'prod'"),
        (f"aep://{ORG_ID}/prod/5f1", "'/prod/5f1'"),
        (f"aep://{ORG_ID}/prod/datasets/", "'/prod/datasets'"),  # Airflow strips the trailing slash first
        (f"aep://{ORG_ID}/prod/schemas/5f1", "'/prod/schemas/5f1'"),
    ]:
        with pytest.raises(ValueError, match=named):
            Asset(uri=bad)


def test_the_flow_endpoints_name_its_source_and_its_dataset(emu):
    endpoints = AdobeFlowServiceHook().get_flow_endpoints(FILE_FLOW_ID)
    assert endpoints.dataset_ids == (dataset_id(FILE_FLOW_ID),)
    (source,) = endpoints.source_connections
    assert source["params"]["path"].startswith("/emulator-drops/")
