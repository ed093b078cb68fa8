"""Helpers for ``dag.test()`` runs: register a DAG built in code, read what a run left behind."""

from __future__ import annotations

from typing import Any


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


def dagbag_api() -> tuple[Any, Any]:
    """``(DagBag, sync_bag_to_db)``, which moved in Airflow 3.2."""
    try:
        from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import DagBag, sync_bag_to_db  # type: ignore[no-redef]
    return DagBag, sync_bag_to_db


def run_dag_test(dag: Any, **test_kwargs: Any) -> Any:
    """Register a DAG built in code (``dag.test()`` needs it serialized) and run it; returns the DagRun."""
    import os

    dagbag_cls, sync_bag_to_db = dagbag_api()
    bag = dagbag_cls(dag_folder=os.devnull)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
    return dag.test(**test_kwargs)
