"""What every request meets before any flow or run: settings, issued tokens, faults and the request log.

:class:`~.state.EmulatorState` builds on it with the flows and runs. One re-entrant lock guards
both: uvicorn serves from a background thread while tests configure and read from theirs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from airflow_flowrun.emulator.faults import FaultInjector, FaultRule
from airflow_flowrun.emulator.requestlog import RecordedRequest, RequestLog
from airflow_flowrun.emulator.settings import RUNTIME_SETTINGS, EmulatorSettings
from airflow_flowrun.emulator.tokens import TokenStore


class ServiceState:
    """Settings, tokens, faults and the request log; every public method is thread-safe.

    :param settings: the settings :meth:`reset_service` returns to.
    """

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self._lock = threading.RLock()
        self.initial_settings = settings or EmulatorSettings()
        self.tokens = TokenStore()
        self.reset_service()

    def reset_service(self) -> None:
        """Constructor settings, no faults, an empty request log; issued tokens stay valid."""
        with self._lock:
            self._settings = self.initial_settings
            self.log = RequestLog(self._settings.request_log_size)
            self.faults = FaultInjector(self._settings.seed)

    # -- settings ---------------------------------------------------------------------------------
    @property
    def settings(self) -> EmulatorSettings:
        """The current settings."""
        return self._settings

    def update_settings(self, changes: Mapping[str, Any]) -> EmulatorSettings:
        """Change runtime settings (see :data:`~.settings.RUNTIME_SETTINGS`)."""
        with self._lock:
            self._settings = self._settings.updated(changes, RUNTIME_SETTINGS)
            return self._settings

    # -- tokens -----------------------------------------------------------------------------------
    def issue_token(self, client_id: str) -> tuple[str, float]:
        """A new opaque access token for ``client_id`` and its lifetime in seconds."""
        settings = self._settings
        return self.tokens.issue(settings.token_lifetime, client_id, settings.token_prefix), settings.token_lifetime

    def revoke_tokens(self) -> None:
        """Invalidate every issued token (the next Flow Service call with one answers 401013)."""
        self.tokens.clear()

    # -- requests and faults ----------------------------------------------------------------------
    def arrive(self, request: RecordedRequest) -> FaultRule | None:
        """Count and log an arriving request and choose the fault it gets, if any.

        A ``revoke_tokens`` fault invalidates every issued token here, before the gateway
        checks this request's token.
        """
        with self._lock:
            self.log.count(request.method, request.path)
            self.log.append(request)
            fault = self.faults.choose(request.method, request.path) if self.faults.rules else None
            if fault is not None:
                request.fault = fault.kind
                if fault.kind == "revoke_tokens":
                    self.revoke_tokens()
            return fault

    def answered(
        self, request: RecordedRequest, status: int | None, headers: list[tuple[bytes, bytes]] | None, at: float
    ) -> None:
        """Complete a logged request with its answer (None status and headers: dropped)."""
        with self._lock:
            request.answer(status, headers, at)

    def requests(self) -> list[RecordedRequest]:
        """Copies of the logged requests, oldest arrival first (in-flight ones included)."""
        with self._lock:
            return [entry.snapshot() for entry in self.log.entries]

    def add_fault(self, spec: Mapping[str, Any]) -> FaultRule:
        """Add a fault rule (see :mod:`.faults`)."""
        with self._lock:
            return self.faults.add(spec)

    def fault_rules(self) -> list[dict[str, Any]]:
        """The active fault rules with their counters."""
        with self._lock:
            return [rule.to_dict() for rule in self.faults.rules]

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        with self._lock:
            self.faults.clear()
