"""The emulator as users get it: the pytest fixture and a cheap package import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import requests

from airflow_flowrun.emulator import FILE_FLOW_ID


def test_aep_emulator_fixture_sets_connection_env_and_serves(aep_emulator):
    connection = json.loads(os.environ["AIRFLOW_CONN_AEP_DEFAULT"])

    assert connection == aep_emulator.connection_dict
    assert requests.get(f"{connection['host']}/_emulator/health", timeout=5).json() == {"status": "ok"}
    aep_emulator.inject("status", status=500)
    aep_emulator.add_flow(kind="file", flow_id="left-behind-by-a-test")


def test_aep_emulator_fixture_resets_between_tests(aep_emulator):
    assert set(aep_emulator.stats()["faults_injected"].values()) == {0}
    assert aep_emulator.state.fault_rules() == []
    assert "left-behind-by-a-test" not in aep_emulator.flows
    assert aep_emulator.runs() == []
    assert FILE_FLOW_ID in aep_emulator.flows


def test_importing_the_package_does_not_import_the_server():
    code = (
        "import sys\n"
        "import airflow_flowrun.emulator as emulator\n"
        "import airflow_flowrun.emulator.pytest_plugin\n"
        "assert emulator.TABLE_FLOW_ID\n"
        "print(sorted(name for name in ('fastapi', 'uvicorn', 'starlette') if name in sys.modules))\n"
        "emulator.FlowServiceEmulator\n"
        "print('fastapi' in sys.modules)\n"
    )

    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)

    assert finished.stdout.splitlines() == ["[]", "True"]
