"""Print the outcome of the demo's DAG run: task states and each run's ``flow_run`` summary.

Exits non-zero unless the DAG run succeeded, so `make demo` fails loudly when ingestion does.
"""

from __future__ import annotations

import sys

from airflow.models.dagrun import DagRun
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

from airflow_flowrun.summary import format_summary


def main(dag_id: str) -> int:
    with create_session() as session:
        dag_run = session.query(DagRun).filter_by(dag_id=dag_id).order_by(DagRun.id.desc()).first()
        if dag_run is None:
            print(f"no run of {dag_id} found")
            return 1
        print(f"==> DAG run {dag_run.run_id}: {dag_run.state}")
        for ti in dag_run.get_task_instances(session=session):
            print(f"    task {ti.task_id}{'' if ti.map_index < 0 else f'[{ti.map_index}]'}: {ti.state}")
        rows = session.query(XComModel).filter_by(dag_id=dag_id, run_id=dag_run.run_id, key="flow_run").all()
        for row in rows:
            print(f"==> Flow run summary (XCom 'flow_run' of {row.task_id}):")
            print(format_summary(XComModel.deserialize_value(row)))
        return 0 if dag_run.state == "success" and rows else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
