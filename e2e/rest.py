"""A small client of Airflow's public REST API (``/api/v2``), authenticated as the simple auth manager's admin."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import requests


class AirflowRest:
    """JWT from ``POST /auth/token``, renewed on a 401; every call bounded by ``timeout`` seconds.

    :param base_url: the api-server's URL
    :param username, password: the simple auth manager's user
    """

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout = timeout
        self.session = requests.Session()
        self._token: str | None = None

    def _login(self) -> str:
        answer = self.session.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=self.timeout,
        )
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"POST /auth/token answered {answer.status_code}: {answer.text[:300]}")
        return str(answer.json()["access_token"])

    def call(self, method: str, path: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        """One API call; a 5xx or a dropped connection is tried again (up to 5 times), a 401 logs in again."""
        for attempt in range(6):
            if self._token is None:
                self._token = self._login()
            try:
                answer = self.session.request(
                    method,
                    f"{self.base_url}/api/v2{path}",
                    headers={"Authorization": f"Bearer {self._token}"},
                    timeout=self.timeout,
                    **kwargs,
                )
            except requests.ConnectionError:
                if attempt == 5:
                    raise
                time.sleep(1 + attempt)
                continue
            if answer.status_code == 401:
                self._token = None
                continue
            if answer.status_code >= 500 and attempt < 5:
                time.sleep(1 + attempt)
                continue
            if answer.status_code not in expect:
                raise RuntimeError(f"{method} /api/v2{path} answered {answer.status_code}: {answer.text[:500]}")
            return answer.json() if answer.content else None
        raise RuntimeError(f"{method} /api/v2{path}: no answer after 6 attempts")

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params)

    def paged(self, path: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paged collection (``limit``/``offset``)."""
        offset = 0
        while True:
            page = self.get(path, limit=100, offset=offset, **params)
            items = page[key]
            yield from items
            offset += len(items)
            if not items or offset >= page["total_entries"]:
                return

    # -- the calls the e2e makes ------------------------------------------------------------------
    def dag_ids(self) -> set[str]:
        return {dag["dag_id"] for dag in self.paged("/dags", "dags")}

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.paged("/importErrors", "import_errors"))

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{quote(dag_id)}", json={"is_paused": False})

    def pause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{quote(dag_id)}", json={"is_paused": True})

    def trigger(self, dag_id: str, run_id: str, **body: Any) -> dict[str, Any]:
        return dict(
            self.call("POST", f"/dags/{quote(dag_id)}/dagRuns", json={"dag_run_id": run_id, **body}, expect=(200,))
        )

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}"))

    def task_instances(self, dag_id: str = "~", run_id: str = "~", **filters: Any) -> list[dict[str, Any]]:
        path = f"/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances"
        return list(self.paged(path, "task_instances", **filters))

    def count_task_instances(self, state: str, dag_id: str = "~", run_id: str = "~", **filters: Any) -> int:
        path = f"/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances"
        return int(self.get(path, state=state, limit=1, **filters)["total_entries"])

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        path = f"/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances/{quote(task_id)}"
        return dict(self.get(path if map_index < 0 else f"{path}/{map_index}"))

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        path = f"/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances/{quote(task_id)}"
        path = f"{path}/tries" if map_index < 0 else f"{path}/{map_index}/tries"
        return list(self.get(path)["task_instances"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str, map_index: int = -1) -> Any:
        path = f"/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances/{quote(task_id)}/xcomEntries/{quote(key)}"
        return self.get(path, map_index=map_index)["value"]

    def reparse(self, dag_id: str) -> None:
        """Ask the dag-processor to parse the DAG's file again now (a priority parsing request)."""
        token = self.get(f"/dags/{quote(dag_id)}")["file_token"]
        self.call("PUT", f"/parseDagFile/{quote(token)}", expect=(201,))

    def asset(self, name: str) -> dict[str, Any] | None:
        """The asset named ``name`` (with its watchers), or None while Airflow does not know it."""
        found = [asset for asset in self.paged("/assets", "assets", name_pattern=name) if asset["name"] == name]
        return found[0] if found else None

    def asset_events(self, asset_id: int) -> list[dict[str, Any]]:
        return list(self.paged("/assets/events", "asset_events", asset_id=asset_id, order_by="timestamp"))

    def asset_state_store(self, asset_id: int) -> dict[str, Any]:
        """The asset's state store: key to value."""
        entries = self.paged(f"/assets/{asset_id}/state-store", "asset_state_store")
        return {entry["key"]: entry["value"] for entry in entries}

    def upstream_asset_events(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The asset events that started an asset-triggered DAG run."""
        return list(self.get(f"/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/upstreamAssetEvents")["asset_events"])
