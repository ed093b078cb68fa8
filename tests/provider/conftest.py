"""Fixtures for running DAG authors' DAGs with ``dag.test()`` against the emulator."""

from __future__ import annotations

import pytest

from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.hooks.flow_service_async import AdobeFlowServiceAsyncHook
from airflow_flowrun.retry import RetryPolicy
from airflow_flowrun.submission import RunSubmitter

FAST_RETRIES = RetryPolicy(max_attempts=6, base_delay=0.05, max_delay=0.2, max_retry_after=1.0)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff in milliseconds, so retry paths run at test speed (the rule itself is unchanged)."""
    monkeypatch.setattr(AdobeFlowServiceHook, "retry_policy", FAST_RETRIES)
    monkeypatch.setattr(AdobeFlowServiceAsyncHook, "retry_policy", FAST_RETRIES)
    monkeypatch.setattr(AdobeFlowServiceHook, "lost_answer_grace", 3.0)
    monkeypatch.setattr(RunSubmitter, "listing_lag", 15.0)  # still longer than the 12 s lag tests build
