"""``FlowServiceEmulator``: the emulator served by uvicorn in a background thread."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from types import TracebackType
from typing import Any

import uvicorn

from airflow_flowrun.emulator.admin import ADMIN_PREFIX
from airflow_flowrun.emulator.app import create_app
from airflow_flowrun.emulator.control import EmulatorControl
from airflow_flowrun.emulator.seeds import CLIENT_ID, CLIENT_SECRET, IMS_TOKEN_PATH, KNOWN_SANDBOXES, ORG_ID, SANDBOX
from airflow_flowrun.emulator.settings import DEFAULT_PAGE_SIZE, EmulatorSettings
from airflow_flowrun.emulator.state import EmulatorState
from airflow_flowrun.emulator.tokens import TOKEN_PREFIX

STARTUP_TIMEOUT = 15.0
#: Loopback health checks must not go through an HTTP proxy configured in the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class FlowServiceEmulator(EmulatorControl):
    """Adobe IMS + Flow Service on a loopback port, for tests, demos and benchmarks.

    Use it as a context manager (or call :meth:`start` / :meth:`stop`)::

        with FlowServiceEmulator(run_duration=0.5) as emu:
            os.environ["AIRFLOW_CONN_AEP_DEFAULT"] = emu.connection
            ...
            assert emu.runs(TABLE_FLOW_ID)[0]["metrics"]["statusSummary"]["status"] == "success"

    :param host: interface to bind.
    :param port: port to bind; 0 picks a free one (read it back from :attr:`url`).
    :param run_duration: seconds a run stays ``inProgress`` unless its flow sets a duration.
    :param token_lifetime: seconds an access token stays valid.
    :param visibility_delay: seconds a new run stays invisible (GET answers 404).
    :param seed: seeds the fault RNGs.
    :param create_run_response_shape: ``"items"``, ``"bare"`` or ``"run"`` (see
        :class:`~.settings.EmulatorSettings`).
    :param request_log_size: how many recent requests :attr:`requests` keeps.
    :param client_id, client_secret: the credentials IMS accepts (the client id is also the API
        key); :attr:`connection` carries them.
    :param token_prefix: how every issued access token starts.
    :param page_size: the default and largest ``limit`` of listings (Flow Service: 100).
    :param sandboxes: the sandbox names the gateway accepts (default ``prod`` and ``dev``).
    :param log_level: uvicorn's log level; the access log is off.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        run_duration: float = 3.0,
        token_lifetime: float = 86399,
        visibility_delay: float = 0.0,
        seed: int = 0,
        create_run_response_shape: str = "items",
        request_log_size: int = 10_000,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        token_prefix: str = TOKEN_PREFIX,
        page_size: int = DEFAULT_PAGE_SIZE,
        sandboxes: tuple[str, ...] = KNOWN_SANDBOXES,
        log_level: str = "warning",
    ) -> None:
        settings = EmulatorSettings(
            run_duration=run_duration,
            token_lifetime=token_lifetime,
            visibility_delay=visibility_delay,
            seed=seed,
            create_run_response_shape=create_run_response_shape,
            request_log_size=request_log_size,
            client_id=client_id,
            client_secret=client_secret,
            token_prefix=token_prefix,
            page_size=page_size,
            sandboxes=sandboxes,
        )
        self.host = host
        self.port = port
        super().__init__(EmulatorState(settings))
        self.app = create_app(self.state)
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> FlowServiceEmulator:
        """Bind, serve in a daemon thread and return once the emulator answers HTTP."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._socket = sock
        config = uvicorn.Config(self.app, log_level=self._log_level, access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="aep-emulator", daemon=True
        )
        self._thread.start()
        self._wait_until_serving()
        return self

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self._thread is not None and not self._thread.is_alive():
                break
            try:
                with _DIRECT.open(f"{self.url}{ADMIN_PREFIX}/health", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the emulator did not start serving on {self.url}")

    def stop(self) -> None:
        """Stop serving and wait for the server thread (idempotent)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STARTUP_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._server, self._thread, self._socket = None, None, None

    def __enter__(self) -> FlowServiceEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- connection -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (gateway and IMS share it)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def connection_dict(self) -> dict[str, Any]:
        """The Airflow connection (type ``aep``) pointing at this emulator."""
        return {
            "conn_type": "aep",
            "login": self.state.settings.client_id,
            "password": self.state.settings.client_secret,
            "host": self.url,
            "extra": {"org_id": ORG_ID, "sandbox_name": SANDBOX, "ims_token_url": self.url + IMS_TOKEN_PATH},
        }

    @property
    def connection(self) -> str:
        """:attr:`connection_dict` as JSON, the value for ``AIRFLOW_CONN_AEP_DEFAULT``."""
        return json.dumps(self.connection_dict)
