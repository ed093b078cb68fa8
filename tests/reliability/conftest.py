"""Fixtures of the reliability suite: quick retries, a DAG runner and the emulator with short runs.

Fixtures of ``tests/provider`` are not visible here; these follow them, with the retry rule made
quick through :func:`reliability.soak.quick_retries` (the rule itself is unchanged, only its delays).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dagtest import run_dag_test
from reliability.soak import quick_retries


@pytest.fixture(autouse=True)
def fast_retries() -> Iterator[None]:
    """Backoff in milliseconds for the sync and async hooks, so retry paths run at test speed."""
    with quick_retries():
        yield


@pytest.fixture
def run_dag(airflow_db: str) -> Callable[..., Any]:
    """Register a DAG built in a test and run it with ``dag.test()``; returns the DagRun."""
    return run_dag_test


@pytest.fixture
def emu(aep_emulator: Any) -> Any:
    """The session emulator, reset, with runs of the seeded flows that finish in half a second."""
    from airflow_flowrun.emulator import SEEDED_FLOW_IDS

    for flow_id in SEEDED_FLOW_IDS.values():
        aep_emulator.configure_flow(flow_id, duration=0.5)
    return aep_emulator
