"""``python -m airflow_flowrun.emulator`` as a user starts it: a subprocess on a real port."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from adobe_tutorial import TUTORIAL_TABLE_BODY

from airflow_flowrun.emulator import FILE_FLOW_ID, RECURRING_FLOW_ID, TUTORIAL_FLOW_ID
from airflow_flowrun.emulator.seeds import SCHEDULER_CLIENT_ID


class CliEmulator:
    def __init__(self, process: subprocess.Popen[str], lines: list[str]) -> None:
        self.process = process
        self.lines = lines
        export = lines[0]
        assert export.startswith("export AIRFLOW_CONN_AEP_DEFAULT=")
        self.connection = json.loads(shlex.split(export.split("=", 1)[1])[0])
        self.url = self.connection["host"]


@pytest.fixture
def start_cli(tmp_path: Path) -> Iterator:
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> CliEmulator:
        command = [sys.executable, "-m", "airflow_flowrun.emulator", "--port", "0", *args]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        processes.append(process)
        assert process.stdout is not None
        lines = [process.stdout.readline().rstrip("\n") for _ in range(2)]
        assert lines[0], process.stderr.read() if process.stderr else ""
        return CliEmulator(process, lines)

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def _token(cli: CliEmulator) -> str:
    answer = requests.post(
        cli.connection["extra"]["ims_token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": cli.connection["login"],
            "client_secret": cli.connection["password"],
            "scope": "openid,AdobeID,read_organizations",
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def _headers(cli: CliEmulator, token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "x-api-key": cli.connection["login"],
        "x-gw-ims-org-id": cli.connection["extra"]["org_id"],
        "x-sandbox-name": cli.connection["extra"]["sandbox_name"],
        "Content-Type": "application/json",
    }


def test_cli_prints_connection_and_answers_token_and_tutorial_requests(start_cli):
    cli = start_cli()

    assert cli.lines[1] == f"Flow Service emulator serving on {cli.url} (Ctrl-C to stop)"
    assert cli.connection["conn_type"] == "aep"
    token = _token(cli)
    answer = requests.post(
        f"{cli.url}/data/foundation/flowservice/runs",
        data=TUTORIAL_TABLE_BODY,
        headers=_headers(cli, token),
        timeout=10,
    )

    assert answer.status_code == 201, answer.text
    run_id = answer.json()["items"][0]["id"]
    run = requests.get(f"{cli.url}/data/foundation/flowservice/runs/{run_id}", headers=_headers(cli, token), timeout=10)
    assert run.json()["items"][0]["flowId"] == TUTORIAL_FLOW_ID

    cli.process.send_signal(signal.SIGTERM)
    assert cli.process.wait(timeout=10) == 0
    assert TUTORIAL_FLOW_ID in cli.process.stdout.read()


def test_cli_applies_config_file_and_fault_flags(start_cli, tmp_path):
    config = tmp_path / "emulator.json"
    config.write_text(
        json.dumps(
            {
                "run_duration": 0.2,
                "token_lifetime": 7,
                "client_secret": "config-secret",
                "token_prefix": "cfg-",
                "faults": [{"kind": "status", "status": 503, "path": "/runs$", "nth": [1]}],
                "flows": {FILE_FLOW_ID: {"outcome": "failed"}},
            }
        )
    )
    cli = start_cli(
        "--config", str(config), "--client-id", "flag-client",
        "--fault", '{"kind": "status", "status": 429, "path": "/flows", "nth": [1]}',
    )  # fmt: skip
    assert (cli.connection["login"], cli.connection["password"]) == ("flag-client", "config-secret")
    token_answer = requests.post(
        f"{cli.url}/ims/token/v3",
        data={
            "grant_type": "client_credentials",
            "client_id": cli.connection["login"],
            "client_secret": cli.connection["password"],
            "scope": "openid,AdobeID",
        },
        timeout=10,
    )
    assert token_answer.json()["expires_in"] == 7
    assert token_answer.json()["access_token"].startswith("cfg-")
    headers = _headers(cli, token_answer.json()["access_token"])
    runs_url = f"{cli.url}/data/foundation/flowservice/runs"
    body = {"flowId": FILE_FLOW_ID, "params": {"startTime": 0, "windowStartTime": 0, "windowEndTime": 900}}

    assert requests.get(f"{cli.url}/data/foundation/flowservice/flows", headers=headers, timeout=10).status_code == 429
    assert requests.post(runs_url, json=body, headers=headers, timeout=10).status_code == 503
    run_id = requests.post(runs_url, json=body, headers=headers, timeout=10).json()["items"][0]["id"]
    deadline = time.monotonic() + 5
    while True:
        run = requests.get(f"{runs_url}/{run_id}", headers=headers, timeout=10).json()["items"][0]
        if run["metrics"]["statusSummary"]["status"] != "inProgress" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert run["metrics"]["statusSummary"]["status"] == "failed"


def test_cli_rejects_unknown_config_keys(tmp_path):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"colour": "red"}))

    finished = subprocess.run(
        [sys.executable, "-m", "airflow_flowrun.emulator", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert finished.returncode == 2
    assert "colour" in finished.stderr


def test_cli_schedule_flag_makes_a_recurring_flow_start_its_own_runs(start_cli):
    cli = start_cli("--schedule", f"{RECURRING_FLOW_ID}=1")

    deadline = time.monotonic() + 10
    while True:
        runs = requests.get(f"{cli.url}/_emulator/runs", params={"flow_id": RECURRING_FLOW_ID}, timeout=10).json()
        if runs["items"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert runs["items"][0]["createdClient"] == SCHEDULER_CLIENT_ID
    (settings,) = [
        flow
        for flow in requests.get(f"{cli.url}/_emulator/flows", timeout=10).json()["items"]
        if flow["flow_id"] == RECURRING_FLOW_ID
    ]
    assert settings["schedule"]["every"] == 1


@pytest.mark.parametrize(
    ("value", "words"),
    [(f"{RECURRING_FLOW_ID}=soon", "FLOW_ID=SECONDS"), (f"{FILE_FLOW_ID}=5", "frequency 'once'")],
)
def test_cli_rejects_bad_schedules(value, words):
    finished = subprocess.run(
        [sys.executable, "-m", "airflow_flowrun.emulator", "--port", "0", "--schedule", value],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert finished.returncode == 2
    assert words in finished.stderr
