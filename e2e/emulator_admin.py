"""The emulator's admin routes (``/_emulator``), read and configured from the e2e driver."""

from __future__ import annotations

from typing import Any

import requests


class EmulatorAdmin:
    """:param url: the emulator's base URL"""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.session.request(method, f"{self.url}/_emulator{path}", timeout=30, **kwargs)
        answer.raise_for_status()
        return answer.json()

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/stats"))

    def inject(self, **rule: Any) -> dict[str, Any]:
        return dict(self._call("POST", "/faults", json=rule))

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/faults")["items"])

    def configure_flow(self, flow_id: str, **changes: Any) -> dict[str, Any]:
        return dict(self._call("PATCH", f"/flows/{flow_id}", json=changes))

    def schedule_flow(self, flow_id: str, *, every: int, start: int | None = None) -> dict[str, Any]:
        """Make a recurring flow start a run every ``every`` seconds, its first window beginning at ``start``."""
        return dict(self._call("PUT", f"/flows/{flow_id}/schedule", json={"every": every, "start": start}))

    def unschedule_flow(self, flow_id: str) -> None:
        self._call("DELETE", f"/flows/{flow_id}/schedule")

    def runs(self, flow_id: str) -> list[dict[str, Any]]:
        return list(self._call("GET", "/runs", params={"flow_id": flow_id})["items"])

    def windows(self, flow_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/windows/{flow_id}"))

    def requests(self, limit: int) -> list[dict[str, Any]]:
        return list(self._call("GET", "/requests", params={"limit": limit})["items"])


def run_window(run: dict[str, Any]) -> tuple[int, int]:
    """A run's ``[windowStartTime, windowEndTime)`` in epoch seconds."""
    params = run["params"]
    return int(params["windowStartTime"]), int(params["windowEndTime"])


def run_status(run: dict[str, Any]) -> str:
    return str(run["metrics"]["statusSummary"]["status"])
