"""Every example DAG runs end to end against the emulator's seeded flows, unchanged but for the connection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dagtest import dagbag_api, task_states, xcom

from airflow_flowrun.emulator import RECURRING_FLOW_ID

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
LOGICAL_DATE = datetime(2026, 11, 27, tzinfo=UTC)


def schedule_recurring_flow(emu) -> None:
    """AEP has been running the recurring flow hourly since the day before the DAG run's interval."""
    emu.schedule_flow(RECURRING_FLOW_ID, every=3600, start=int((LOGICAL_DATE - timedelta(days=2)).timestamp()))


#: What AEP does on its own before an example runs (the examples that wait for it, not start it).
AEP_SIDE = {"example_aep_scheduled_flow": schedule_recurring_flow}
#: Started by an asset watcher's events, which dag.test() does not make: they run here with none (and
#: succeed, reading nothing); tests/triggers/test_flow_run_events.py runs them on real events.
EVENT_DRIVEN = {"example_aep_event_trigger"}


@pytest.fixture(scope="module")
def example_bag(airflow_db):
    dagbag_cls, _ = dagbag_api()
    bag = dagbag_cls(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    return bag


@pytest.mark.parametrize("dag_id", sorted(p.stem for p in EXAMPLES.glob("example_*.py")))
def test_example_dag_succeeds(emu, run_dag, example_bag, dag_id):
    AEP_SIDE.get(dag_id, lambda emu: None)(emu)
    dag = example_bag.get_dag(dag_id)
    for task in dag.tasks:
        for attr in ("poll_interval", "poke_interval"):
            if hasattr(task, attr):
                setattr(task, attr, 0.2)
        if hasattr(task, "partial_kwargs"):
            task.partial_kwargs["poll_interval"] = 0.2
    dag_run = run_dag(dag, logical_date=LOGICAL_DATE)
    states = task_states(dag_run)
    assert states
    assert set(states.values()) == {"success"}, states
    if dag_id in EVENT_DRIVEN:
        return
    assert emu.runs()
    summaries = [xcom(dag_run, ti.task_id, "flow_run", ti.map_index) for ti in dag_run.get_task_instances()]
    summaries += [
        summary for ti in dag_run.get_task_instances() for summary in xcom(dag_run, ti.task_id, "flow_runs") or []
    ]
    assert any(summary and summary["status"] == "success" for summary in summaries)
