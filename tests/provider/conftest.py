"""Fixtures for running DAG authors' DAGs with ``dag.test()`` against the emulator."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.retry import RetryPolicy

FAST_RETRIES = RetryPolicy(max_attempts=6, base_delay=0.05, max_delay=0.2, max_retry_after=1.0)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff in milliseconds, so retry paths run at test speed (the rule itself is unchanged)."""
    monkeypatch.setattr(AdobeFlowServiceHook, "retry_policy", FAST_RETRIES)
    monkeypatch.setattr(AdobeFlowServiceHook, "lost_answer_grace", 3.0)


@pytest.fixture
def run_dag(airflow_db: str) -> Callable[..., Any]:
    """Register a DAG built in a test and run it with ``dag.test()``; returns the DagRun."""
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    def run(dag: Any, **test_kwargs: Any) -> Any:
        bag = DagBag(dag_folder=os.devnull)
        bag.bag_dag(dag)
        sync_bag_to_db(bag, "dags-folder", None)
        return dag.test(**test_kwargs)

    return run


def task_states(dag_run: Any) -> dict[str, str | None]:
    """``{task_id: state}`` of a finished DagRun (mapped tasks as ``task_id[i]``)."""
    states = {}
    for ti in dag_run.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        states[key] = ti.state
    return states


def xcom(dag_run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """An XCom value a task of ``dag_run`` pushed."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key=key, map_index=map_index)
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)


@pytest.fixture
def emu(aep_emulator: Any) -> Any:
    """The emulator with runs that finish in half a second, so waits are short."""
    from airflow_flowrun.emulator import SEEDED_FLOW_IDS

    for flow_id in SEEDED_FLOW_IDS.values():
        aep_emulator.configure_flow(flow_id, duration=0.5)
    return aep_emulator
