"""Fixtures for running DAG authors' DAGs with ``dag.test()`` against the emulator."""

from __future__ import annotations

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
    from dagtest import run_dag_test

    return run_dag_test


@pytest.fixture
def emu(aep_emulator: Any) -> Any:
    """The emulator with runs that finish in half a second, so waits are short."""
    from airflow_flowrun.emulator import SEEDED_FLOW_IDS

    for flow_id in SEEDED_FLOW_IDS.values():
        aep_emulator.configure_flow(flow_id, duration=0.5)
    return aep_emulator
