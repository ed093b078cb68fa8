"""The reliability suite's retry rule made quick through :func:`reliability.soak.quick_retries`, and the
session's one fault soak.

Only the delays change, never what is retried; ``run_dag`` and ``emu`` come from tests/conftest.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from reliability.leaks import captured_logs, captured_output
from reliability.soak import SoakConfig, quick_retries, run_soak
from reliability.soak_result import SoakResult

#: The soak ``test_fault_soak.py`` and ``test_secrets.py`` judge. Both modules are in the xdist group
#: ``fault_soak``, so that under ``pytest -n`` they run on one worker and share one soak.
SOAK = SoakConfig(tasks=40, seed=7)


@dataclass(frozen=True)
class CapturedSoak:
    """A soak's result and everything it printed and logged (log records from DEBUG up)."""

    result: SoakResult
    output: str


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give each test with an ``xdist_group`` mark the ``@group`` node id suffix that ``--dist loadgroup``
    schedules by, where pytest-xdist's own attempt did not take.

    xdist sets ``item._nodeid``, which pytest 9.2's structured node ids ignore
    (pytest-dev/pytest-xdist#1386): the soak's two tests would silently run on two workers, a soak
    each. This runs on xdist workers under ``--dist loadgroup`` only (where xdist sets
    ``config.option.loadgroup``) and does nothing once xdist's suffix is there.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        marks = item.iter_markers("xdist_group")
        groups = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default")) for mark in marks})
        suffix = "@" + "_".join(groups)
        if groups and not item.nodeid.endswith(suffix):
            item._id = type(item._id).parse(item.nodeid + suffix)


@pytest.fixture(scope="session")
def fault_soak(airflow_db: str) -> CapturedSoak:
    """The fault soak of :data:`SOAK`, run once per session (about a minute) for every test that judges it.

    ``capfd`` and ``caplog`` are per test, so the soak's output and log records are captured here.
    """
    with captured_output() as output, captured_logs(logging.DEBUG) as logs:
        result = run_soak(SOAK)
    return CapturedSoak(result, output.text + logs.text)


@pytest.fixture(autouse=True)
def fast_retries() -> Iterator[None]:
    """Backoff in milliseconds for the sync and async hooks, so retry paths run at test speed."""
    with quick_retries():
        yield
