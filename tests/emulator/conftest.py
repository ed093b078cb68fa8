"""Fixtures of the emulator tests: one short-run emulator per session and a plain HTTP client.

Everything goes over real HTTP on loopback (``requests``; ``aiohttp`` where a test says so).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_flowrun.emulator import CLIENT_ID, CLIENT_SECRET, ORG_ID, SANDBOX, FlowServiceEmulator

FLOW_SERVICE = "/data/foundation/flowservice"
RUN_DURATION = 0.4
#: A 10-hour window: 1000 table rows, 40 files.
WINDOW = (1_700_000_000, 1_700_036_000)


class FlowServiceClient:
    """A minimal client written from Adobe's docs, for driving the emulator in tests."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self._token: str | None = None

    def fetch_token(self, **overrides: str) -> requests.Response:
        form = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        form["scope"] = "openid,session,AdobeID,read_organizations,additional_info.projectedProductContext"
        return self.session.post(f"{self.base_url}/ims/token/v3", data={**form, **overrides}, timeout=10)

    @property
    def token(self) -> str:
        if self._token is None:
            answer = self.fetch_token()
            answer.raise_for_status()
            self._token = answer.json()["access_token"]
        return self._token

    def headers(self, **overrides: str | None) -> dict[str, str]:
        headers: dict[str, str | None] = {
            "Authorization": f"Bearer {self.token}",
            "x-api-key": CLIENT_ID,
            "x-gw-ims-org-id": ORG_ID,
            "x-sandbox-name": SANDBOX,
        }
        headers.update(overrides)
        return {name: value for name, value in headers.items() if value is not None}

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", None) or self.headers()
        url = path if path.startswith("http") else f"{self.base_url}{FLOW_SERVICE}{path}"
        return self.session.request(method, url, headers=headers, timeout=10, **kwargs)

    def create_run(self, flow_id: str, window: tuple[int, int] = WINDOW, **params: Any) -> requests.Response:
        """``POST /runs`` as Adobe's run spec has it: ``startTime`` (default now) and the window."""
        body_params = {"startTime": int(time.time()), "windowStartTime": window[0], "windowEndTime": window[1]}
        body_params |= params
        return self.request("POST", "/runs", json={"flowId": flow_id, "params": body_params})

    def run_id(self, flow_id: str, window: tuple[int, int] = WINDOW, **params: Any) -> str:
        answer = self.create_run(flow_id, window, **params)
        assert answer.status_code == 201, answer.text
        return answer.json()["items"][0]["id"]

    def get_run(self, run_id: str) -> dict[str, Any]:
        answer = self.request("GET", f"/runs/{run_id}")
        assert answer.status_code == 200, answer.text
        return answer.json()["items"][0]

    @staticmethod
    def status(run: dict[str, Any]) -> str:
        return run["metrics"]["statusSummary"]["status"]

    @staticmethod
    def error_code(answer: requests.Response) -> str:
        """``FLOW-xxxx-yyy`` of a Flow Service error, or the gateway's ``error_code``."""
        body = answer.json()
        if "type" in body:
            return body["type"].rsplit("/", 1)[-1]
        return body["error_code"]

    def wait_for_status(self, run_id: str, statuses: set[str], timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if run["metrics"]["statusSummary"]["status"] in statuses:
                return run
            assert time.monotonic() < deadline, f"run {run_id} still {run['metrics']['statusSummary']}"
            time.sleep(0.05)


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[FlowServiceEmulator]:
    with FlowServiceEmulator(run_duration=RUN_DURATION) as server:
        yield server


@pytest.fixture
def emu(emulator_server: FlowServiceEmulator) -> FlowServiceEmulator:
    """The session emulator, back in its seeded state."""
    emulator_server.reset()
    return emulator_server


@pytest.fixture
def client(emu: FlowServiceEmulator) -> Iterator[FlowServiceClient]:
    flow_client = FlowServiceClient(emu.url)
    yield flow_client
    flow_client.session.close()
