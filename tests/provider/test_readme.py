"""A DAG written only from the README works unchanged: every DAG in its code blocks runs to success."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagtest import task_states

README = Path(__file__).resolve().parents[2] / "README.md"
DAG_BLOCKS = [block for block in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if "with DAG(" in block]


def test_the_readme_shows_complete_dags():
    assert len(DAG_BLOCKS) >= 3


@pytest.mark.parametrize("source", DAG_BLOCKS, ids=lambda source: re.search(r'dag_id="(\w+)"', source)[1])
def test_readme_dag_runs_against_the_emulator(emu, run_dag, source):
    namespace: dict = {}
    exec(compile(source, str(README), "exec"), namespace)
    dag = namespace["dag"]
    for task in dag.tasks:
        for attr in ("poll_interval", "poke_interval"):
            if hasattr(task, attr):
                setattr(task, attr, 0.2)  # the only change: wait less between checks than a real DAG would
    logical_date = None if dag.schedule is None else datetime(2026, 11, 27, tzinfo=UTC)
    dag_run = run_dag(dag, logical_date=logical_date)
    assert set(task_states(dag_run).values()) == {"success"}
    assert emu.runs()
