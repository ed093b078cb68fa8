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

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """A migrated sqlite metadata DB in the throwaway Airflow home (about 2 s, once per session)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.utils import db

    db.initdb()
    DagBundlesManager().sync_bundles_to_db()
    return _HOME


@pytest.fixture
def token_cache():
    """A cold process-wide token cache for the test, so token requests can be counted."""
    from airflow_flowrun.auth import TOKEN_CACHE

    TOKEN_CACHE.clear()
    yield TOKEN_CACHE
    TOKEN_CACHE.clear()
