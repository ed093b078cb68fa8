"""Test setup shared by every suite: a throwaway Airflow home, a migrated DB, and DAG helpers.

The environment is set before anything imports Airflow (see ../shared/airflow3-notes.md).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_HOME = tempfile.mkdtemp(prefix="aep-airflow-home-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "example_dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.pop("AIRFLOW_CONN_AEP_DEFAULT", None)
os.environ["AIRFLOW__AEP_FLOWRUN__TOKEN_CACHE_DIR"] = str(Path(_HOME, "ims-tokens"))  # never ~/.cache

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """A migrated sqlite metadata DB in the throwaway Airflow home (about 2 s, once per session)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.utils import db

    db.initdb()
    DagBundlesManager().sync_bundles_to_db()
    return _HOME


@pytest.fixture(autouse=True)
def token_file_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory for the machine's IMS token files, per test: no token outlives its test."""
    directory = tmp_path_factory.mktemp("ims-tokens")
    monkeypatch.setenv("AIRFLOW__AEP_FLOWRUN__TOKEN_CACHE_DIR", str(directory))
    return directory


@pytest.fixture
def token_cache(monkeypatch: pytest.MonkeyPatch):
    """A cold process-wide token cache for the test, so token requests can be counted.

    The machine's token file is off here (tests/provider/test_token_cache.py covers it): clearing
    this cache then means a new process, as these tests assume.
    """
    from airflow_flowrun.auth import TOKEN_CACHE

    monkeypatch.setenv("AIRFLOW__AEP_FLOWRUN__TOKEN_CACHE", "process")
    TOKEN_CACHE.clear()
    yield TOKEN_CACHE
    TOKEN_CACHE.clear()


@pytest.fixture(scope="session")
def warm_dag_test(airflow_db: str) -> None:
    """One throwaway ``dag.test()``: the first in a process spends seconds warming up Airflow's
    in-process execution API, which would otherwise eat into the first test's timing (a run meant
    to be in progress at the first poke could already be over)."""
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG
    from dagtest import run_dag_test

    with DAG("warm_up", schedule=None) as dag:
        EmptyOperator(task_id="nothing")
    run_dag_test(dag, logical_date=None)


@pytest.fixture
def run_dag(airflow_db: str):
    """Register a DAG built in a test and run it with ``dag.test()``; returns the DagRun."""
    from dagtest import run_dag_test

    return run_dag_test


@pytest.fixture
def emu(aep_emulator):
    """The emulator (reset for the test) with runs of the seeded flows that finish in half a second."""
    from airflow_flowrun.emulator import SEEDED_FLOW_IDS

    for flow_id in SEEDED_FLOW_IDS.values():
        aep_emulator.configure_flow(flow_id, duration=0.5)
    return aep_emulator
