"""A throwaway Airflow deployment: PostgreSQL, the Flow Service emulator and Airflow's own processes.

Everything lives under one run directory: the PostgreSQL cluster, ``AIRFLOW_HOME``, the dags
folder (``example_dags/`` plus ``e2e/dags/``), one log file per process. The executor is a
parameter: ``local`` (LocalExecutor inside the scheduler) or ``celery`` (Redis on loopback as the
broker, PostgreSQL as the result backend, Celery workers started with :meth:`start_worker`).
"""

from __future__ import annotations

import glob
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import requests
from processes import Managed, ProcessSet

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")
ADMIN_USER = "admin"
#: The emulator's seeded flows the e2e DAGs use (see ``airflow_flowrun/emulator/seeds.py``).
TABLE_FLOW_ID = "c1a19e2a-5ad6-4d2f-9b3a-6f1e0c7d2a01"
FILE_FLOW_ID = "f11e5b7c-3c4d-4e8a-a2b1-7d9c0e4f5b02"
ROW_ERRORS_FLOW_ID = "0e770125-8c1d-4b2a-9e3f-5a6b7c8d9e04"
TUTORIAL_FLOW_ID = "3abea21c-7e36-4be1-bec1-d3bad0e3e0de"
#: A flow AEP runs on its own schedule (the emulator's recurring flow): the event trigger watches it.
RECURRING_FLOW_ID = "da117000-2f3e-4a5b-8c6d-7e8f9a0b1c05"


class DeploymentError(RuntimeError):
    """The deployment could not be brought up; the message names the process and its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(what: str, check: Any, timeout: float, interval: float = 0.5) -> Any:
    """Call ``check`` until it returns something truthy; raise naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (requests.RequestException, OSError) as error:
            last_error, result = error, None
        if result:
            return result
        time.sleep(interval)
    suffix = f" (last error: {last_error})" if last_error else ""
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}{suffix}")


def _postgres_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not candidates:
        raise DeploymentError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run e2e/run.sh")
    return Path(candidates[-1]).parent


class Deployment:
    """Bring up and tear down one e2e deployment.

    :param run_dir: a fresh directory for everything of this run
    :param executor: ``local`` or ``celery``
    :param emulator_config: the emulator's ``--config`` content
    """

    def __init__(self, run_dir: Path, executor: str, emulator_config: dict[str, Any]) -> None:
        if executor not in ("local", "celery"):
            raise ValueError(f"executor must be 'local' or 'celery', got {executor!r}")
        self.run_dir = run_dir
        self.executor = executor
        self.emulator_config = emulator_config
        self.procs = ProcessSet(run_dir)
        self.airflow_home = run_dir / "airflow_home"
        self.dags_folder = run_dir / "dags"
        self.pg_port = free_port()
        self.api_port = free_port()
        self.emulator_port = free_port()
        self.redis_port = free_port()
        self.emulator_url = f"http://127.0.0.1:{self.emulator_port}"
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.admin_password = secrets.token_urlsafe(16)
        self.env: dict[str, str] = {}

    # -- PostgreSQL and Redis ---------------------------------------------------------------------
    def start_postgres(self) -> None:
        """initdb a cluster owned by ``postgres`` under the run dir, serve it on loopback, create ``airflow``."""
        pg_bin = _postgres_bin()
        data, sockets = self.run_dir / "pgdata", self.run_dir / "pgsock"
        for path in (data, sockets):
            path.mkdir()
            shutil.chown(path, "postgres", "postgres")
        os.chmod(self.run_dir, 0o755)
        env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        initdb = self.procs.start(
            "initdb",
            [str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            env,
            user="postgres",
            cwd=self.run_dir,
        )
        if initdb.popen.wait(120) != 0:
            raise DeploymentError(f"initdb failed: see {initdb.log_path}")
        argv = [str(pg_bin / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(self.pg_port)]
        argv += ["-k", str(sockets), "-c", "max_connections=300", "-c", "shared_buffers=256MB"]
        argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]  # throwaway data
        postgres = self.procs.start(
            "postgres",
            argv,
            env,
            user="postgres",
            cwd=self.run_dir,
            stop_signal=signal.SIGINT,
        )
        import psycopg2

        def create_database() -> bool:
            if not postgres.alive():
                raise DeploymentError(f"postgres exited: see {postgres.log_path}")
            try:
                connection = psycopg2.connect(host="127.0.0.1", port=self.pg_port, user="postgres", dbname="postgres")
            except psycopg2.OperationalError:
                return False
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("CREATE DATABASE airflow")
            connection.close()
            return True

        wait_until("PostgreSQL to accept connections", create_database, timeout=60, interval=0.2)

    def start_redis(self) -> None:
        redis = shutil.which("redis-server")
        if redis is None:
            raise DeploymentError("redis-server is not installed: run e2e/run.sh")
        server = self.procs.start(
            "redis",
            [redis, "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", "", "--appendonly", "no",
             "--dir", str(self.run_dir)],
            {"PATH": os.environ["PATH"]},
        )  # fmt: skip

        def answers() -> bool:
            if not server.alive():
                raise DeploymentError(f"redis-server exited: see {server.log_path}")
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=2) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")

        wait_until("Redis to answer PING", answers, timeout=30, interval=0.2)

    # -- the emulator -----------------------------------------------------------------------------
    def start_emulator(self) -> str:
        """Start the emulator CLI; return the ``AIRFLOW_CONN_AEP_DEFAULT`` value it printed."""
        config_path = self.run_dir / "emulator.json"
        config_path.write_text(json.dumps(self.emulator_config, indent=2))
        emulator = self.procs.start(
            "emulator",
            [sys.executable, "-m", "airflow_flowrun.emulator", "--port", str(self.emulator_port),
             "--config", str(config_path)],
            {**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=ROOT,
        )  # fmt: skip

        def printed_connection() -> str | None:
            if not emulator.alive():
                raise DeploymentError(f"the emulator exited: see {emulator.log_path}")
            match = re.search(r"^export AIRFLOW_CONN_AEP_DEFAULT='(.*)'$", emulator.log_path.read_text(), re.M)
            return match.group(1) if match else None

        return str(wait_until("the emulator to print its connection", printed_connection, timeout=60, interval=0.2))

    # -- Airflow ----------------------------------------------------------------------------------
    def prepare_airflow(self, connection: str) -> None:
        """Dags folder, passwords file and the environment every Airflow process shares."""
        from cryptography.fernet import Fernet

        self.airflow_home.mkdir()
        self.dags_folder.mkdir()
        for source in sorted((ROOT / "example_dags").glob("*.py")) + sorted((ROOT / "e2e" / "dags").glob("*.py")):
            shutil.copy(source, self.dags_folder / source.name)
        passwords = self.run_dir / "passwords.json"
        passwords.write_text(json.dumps({ADMIN_USER: self.admin_password}))
        database = f"postgresql+psycopg2://postgres@127.0.0.1:{self.pg_port}/airflow"
        settings = {
            "CORE__EXECUTOR": "CeleryExecutor" if self.executor == "celery" else "LocalExecutor",
            "CORE__LOAD_EXAMPLES": "False",
            "CORE__DAGS_FOLDER": str(self.dags_folder),
            "CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "CORE__PARALLELISM": "8",  # 2 cores: more task processes at once only thrash
            "CORE__MAX_ACTIVE_TASKS_PER_DAG": "512",
            "CORE__DEFAULT_POOL_TASK_SLOT_COUNT": "1024",
            "CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "DATABASE__SQL_ALCHEMY_CONN": database,
            "DATABASE__SQL_ALCHEMY_POOL_SIZE": "10",
            "API__HOST": "127.0.0.1",
            "API__PORT": str(self.api_port),
            "API__BASE_URL": self.api_url,
            "API__SECRET_KEY": secrets.token_urlsafe(32),
            "API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "LOGGING__LOGGING_LEVEL": "INFO",
            "LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            # Manual runs only: unpausing a scheduled example must not add a run for a window of its own.
            "SCHEDULER__USE_JOB_SCHEDULE": "False",
            "SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "SCHEDULER__JOB_HEARTBEAT_SEC": "2",
            "SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "SCHEDULER__MAX_TIS_PER_QUERY": "256",
            # Not lower: under load a live scheduler's heartbeat lags, and it would reset its own tasks.
            "SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "45",
            "SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "10",
            "SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
            "SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "30",
            "TRIGGERER__CAPACITY": "1000",
            "TRIGGERER__MAX_TRIGGER_TO_SELECT_PER_LOOP": "500",
            "DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            "DAG_PROCESSOR__PARSING_PROCESSES": "2",
            # A token file of this run only: what it counts starts from zero.
            "AEP_FLOWRUN__TOKEN_CACHE_DIR": str(self.run_dir / "ims-tokens"),
        }
        if self.executor == "celery":
            settings |= {
                "CELERY__BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://postgres@127.0.0.1:{self.pg_port}/airflow",
                "CELERY__WORKER_CONCURRENCY": "4",
            }
        inherited = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
        self.env = {
            **inherited,
            "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW_CONN_AEP_DEFAULT": connection,
            "PYTHONUNBUFFERED": "1",
            **{f"AIRFLOW__{key}": value for key, value in settings.items()},
        }

    def migrate(self) -> None:
        migrate = self.procs.start("db-migrate", [AIRFLOW, "db", "migrate"], self.env, cwd=self.run_dir)
        if migrate.popen.wait(600) != 0:
            raise DeploymentError(f"airflow db migrate failed: see {migrate.log_path}")

    def start_component(self, role: str, extra_env: dict[str, str] | None = None) -> Managed:
        """Start ``airflow <role>`` (scheduler, dag-processor, triggerer, api-server)."""
        argv = [AIRFLOW, role]
        env = {**self.env, **(extra_env or {})}
        if role == "triggerer":
            argv += ["--skip-serve-logs"]
            if os.geteuid() == 0:
                # Here one 2-core machine runs every component and up to 32 task processes; on a real
                # deployment the triggerer has CPU of its own. Without priority its loop can wait
                # longer for a CPU than Airflow's 0.2 s "blocked" threshold, whoever's code it runs.
                argv = ["nice", "-n", "-10", *argv]
        if role == "api-server":
            argv += ["--host", "127.0.0.1", "--port", str(self.api_port), "--workers", "2"]
        if role == "scheduler":
            # A scheduler still draining its tasks after SIGTERM keeps its log server port.
            env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
        return self.procs.start(role, argv, env, cwd=self.run_dir)

    def start_worker(self) -> Managed:
        """One ``airflow celery worker`` (celery executor only), with its own hostname and log server port."""
        number = sum(1 for p in self.procs.processes if p.name.startswith("celery-worker-")) + 1
        env = {**self.env, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
        argv = [AIRFLOW, "celery", "worker", "--celery-hostname", f"e2e-worker-{number}@%h", "--without-mingle",
                "--without-gossip", "--concurrency", "4"]  # fmt: skip
        return self.procs.start("celery-worker", argv, env, cwd=self.run_dir)

    def wait_api_healthy(self, timeout: float = 180) -> dict[str, Any]:
        """Wait until ``/api/v2/monitor/health`` reports the metadatabase, scheduler and triggerer healthy."""

        def healthy() -> dict[str, Any] | None:
            for role in ("api-server", "scheduler", "dag-processor", "triggerer"):
                managed = self.procs.latest(role)
                if not managed.alive():
                    raise DeploymentError(f"{managed.name} exited ({managed.popen.returncode}): see {managed.log_path}")
            answer = requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=5)
            if answer.status_code != 200:
                return None
            health = answer.json()
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            if all(health.get(part, {}).get("status") == "healthy" for part in parts):
                return dict(health)
            return None

        return dict(wait_until("the api-server to report every component healthy", healthy, timeout=timeout))

    def stop(self) -> list[str]:
        return self.procs.stop_all()
