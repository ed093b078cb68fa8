"""pytest fixtures for testing DAGs against the emulator (registered through ``pytest11``).

- ``aep_emulator_server`` (session): one emulator for the whole session.
- ``aep_emulator`` (function): that emulator reset to its seeded state, with
  ``AIRFLOW_CONN_AEP_DEFAULT`` pointing at it for the duration of the test.

The default run duration of the session emulator comes from the ``aep_emulator_run_duration``
ini option (seconds, default 1). Loading the plugin costs nothing and changes nothing in a test
session that uses neither fixture: it imports only pytest and the emulator's seed constants (no
FastAPI, uvicorn or Airflow), starts nothing, and adds that ini option and no other option or hook.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_flowrun.emulator.server import FlowServiceEmulator


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``aep_emulator_run_duration`` ini option."""
    parser.addini(
        "aep_emulator_run_duration",
        "seconds runs of the aep_emulator fixture stay inProgress",
        default="1.0",
    )


@pytest.fixture(scope="session")
def aep_emulator_server(pytestconfig: pytest.Config) -> Iterator[FlowServiceEmulator]:
    """One emulator served for the whole test session."""
    from airflow_flowrun.emulator import FlowServiceEmulator  # names the emulator extra when FastAPI is missing

    run_duration = float(str(pytestconfig.getini("aep_emulator_run_duration")))
    with FlowServiceEmulator(run_duration=run_duration) as emulator:
        yield emulator


@pytest.fixture
def aep_emulator(aep_emulator_server: FlowServiceEmulator, monkeypatch: pytest.MonkeyPatch) -> FlowServiceEmulator:
    """The session emulator, reset, with ``AIRFLOW_CONN_AEP_DEFAULT`` set to its connection."""
    aep_emulator_server.reset()
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", aep_emulator_server.connection)
    return aep_emulator_server
