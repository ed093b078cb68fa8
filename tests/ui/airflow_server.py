"""A throwaway Airflow API server for browser tests: its own home, a sqlite DB, every visitor an admin.

Everything it starts is stopped by process group id when the ``with`` block ends, whatever happened,
and every wait is bounded. Its log stays in the Airflow home; :func:`log_tail` shows its end with the
given secrets blanked out.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

AIRFLOW = [sys.executable, "-m", "airflow"]
MIGRATE_TIMEOUT = 300
START_TIMEOUT = 180
STOP_TIMEOUT = 20


def free_port() -> int:
    """A port that is free on loopback now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_env(home: Path) -> dict[str, str]:
    """The environment of every ``airflow`` command of one test deployment.

    No ``AIRFLOW__*`` or ``AIRFLOW_CONN_*`` of the caller leaks in, so the test sees only what it
    stored through the UI.
    """
    environ = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    return {
        **environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__AEP_FLOWRUN__TOKEN_CACHE_DIR": str(home / "ims-tokens"),
    }


def run_airflow(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run one ``airflow`` command; its output is returned, never printed (it may hold secrets)."""
    return subprocess.run([*AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


@contextmanager
def api_server(home: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """Migrate a sqlite DB in ``home`` and serve the API server and UI on a free loopback port.

    :return: the base URL (``http://127.0.0.1:PORT``) and the environment of the deployment
    """
    (home / "dags").mkdir(parents=True, exist_ok=True)
    env = airflow_env(home)
    migrated = run_airflow(env, "db", "migrate", timeout=MIGRATE_TIMEOUT)
    assert migrated.returncode == 0, f"airflow db migrate failed:\n{migrated.stderr[-3000:]}"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env["AIRFLOW__API__BASE_URL"] = base_url
    with (home / "api-server.log").open("wb") as log:
        server = subprocess.Popen(
            [*AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops its workers too
        )
        try:
            _wait_until_healthy(server, base_url)
            yield base_url, env
        finally:
            _stop(server)


def log_tail(home: Path, hide: Iterable[str] = (), size: int = 4000) -> str:
    """The end of the API server's log with each of ``hide`` replaced by ``***``."""
    path = home / "api-server.log"
    text = path.read_text(errors="replace")[-size:] if path.exists() else "(no log)"
    for secret in hide:
        text = text.replace(secret, "***")
    return text


def _wait_until_healthy(server: subprocess.Popen[bytes], base_url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"airflow api-server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=5) as answer:
                if answer.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"airflow api-server did not answer on {base_url} within {START_TIMEOUT} s")


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group; SIGKILL whatever of the group is left after a while."""
    _signal_group(server.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        server.wait(timeout=STOP_TIMEOUT)
    _signal_group(server.pid, signal.SIGKILL)  # a worker that outlived the server, or a hung server
    server.wait(timeout=STOP_TIMEOUT)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(pgid, sig)
