"""Emulator-wide settings, shared by the Python API, the CLI/config file and the admin API."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_flowrun.emulator.seeds import CLIENT_ID, CLIENT_SECRET, KNOWN_SANDBOXES
from airflow_flowrun.emulator.tokens import TOKEN_PREFIX

CREATE_RUN_RESPONSE_SHAPES = ("items", "bare", "run")
RETRIGGER_MODES = ("same-run", "new-run")
#: Flow Service pages hold at most this many items: the default ``page_size``.
DEFAULT_PAGE_SIZE = 100
#: Settings that may change while the emulator serves (``PUT /_emulator/settings``); changing the
#: credentials is how a test rotates a client secret.
RUNTIME_SETTINGS = (
    "run_duration",
    "token_lifetime",
    "visibility_delay",
    "create_run_response_shape",
    "retrigger_mode",
    "retrigger_status_lag",
    "client_id",
    "client_secret",
    "token_prefix",
    "page_size",
    "sandboxes",
)
#: What :meth:`EmulatorSettings.to_dict` shows instead of the client secret.
REDACTED = "***"


@dataclass(frozen=True)
class EmulatorSettings:
    """How the emulator behaves.

    :param run_duration: seconds a run stays ``inProgress`` unless its flow sets a duration.
    :param token_lifetime: seconds an access token stays valid (``expires_in``).
    :param visibility_delay: seconds after creation during which a run is invisible (404).
    :param seed: seeds the fault RNGs (probability selection).
    :param create_run_response_shape: ``POST /runs`` answer: ``"items"`` (``{"items": [{"id",
        "etag"}]}``, as in Adobe's tutorial), ``"bare"`` (``{"id", "etag"}``, as in the OpenAPI
        spec) or ``"run"`` (the whole run object).
    :param retrigger_mode: what ``op=re-trigger`` does: ``"same-run"`` runs the failed run again
        under its id; ``"new-run"`` creates a new run over the same window and answers its id.
    :param retrigger_status_lag: seconds after a same-run re-trigger during which the run still
        reads as the failed attempt (Flow Service may show the old status for a moment).
    :param request_log_size: how many recent requests the request log keeps.
    :param client_id: the client id IMS accepts, which is also the gateway's API key.
    :param client_secret: the client secret IMS accepts.
    :param token_prefix: how every issued access token starts (a distinctive one lets a test
        search logs for leaked tokens).
    :param page_size: the default and largest ``limit`` of ``GET /runs`` and ``GET /flows``
        pages (Flow Service: 100); a small one lets a test cover paging with few runs.
    :param sandboxes: the sandbox names the gateway knows (``x-sandbox-name``); others answer
        ``FLOW-2100-404``. Every sandbox sees the same flows and runs.
    """

    run_duration: float = 3.0
    token_lifetime: float = 86399
    visibility_delay: float = 0.0
    seed: int = 0
    create_run_response_shape: str = "items"
    retrigger_mode: str = "same-run"
    retrigger_status_lag: float = 0.0
    request_log_size: int = 10_000
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    token_prefix: str = TOKEN_PREFIX
    page_size: int = DEFAULT_PAGE_SIZE
    sandboxes: tuple[str, ...] = KNOWN_SANDBOXES

    def __post_init__(self) -> None:
        if isinstance(self.sandboxes, list):
            object.__setattr__(self, "sandboxes", tuple(self.sandboxes))
        if (
            not isinstance(self.sandboxes, tuple)
            or not self.sandboxes
            or not all(isinstance(name, str) and name and name == name.strip() for name in self.sandboxes)
        ):
            raise ValueError(f"sandboxes must be a non-empty list of sandbox names, got {self.sandboxes!r}")
        if isinstance(self.page_size, bool) or not isinstance(self.page_size, int) or self.page_size < 1:
            raise ValueError(f"page_size must be an integer >= 1, got {self.page_size!r}")
        if not isinstance(self.client_id, str) or not self.client_id.strip():
            raise ValueError(f"client_id must be a non-empty string, got {self.client_id!r}")
        if not isinstance(self.client_secret, str) or not self.client_secret.strip():
            raise ValueError(f"client_secret must be a non-empty string, got {REDACTED}")
        if not isinstance(self.token_prefix, str) or any(c.isspace() for c in self.token_prefix):
            raise ValueError(f"token_prefix must be a string without whitespace, got {self.token_prefix!r}")
        for name in ("run_duration", "visibility_delay", "retrigger_status_lag"):
            if not isinstance(getattr(self, name), int | float) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a number >= 0, got {getattr(self, name)!r}")
        if not isinstance(self.token_lifetime, int | float) or self.token_lifetime <= 0:
            raise ValueError(f"token_lifetime must be a number > 0, got {self.token_lifetime!r}")
        if self.create_run_response_shape not in CREATE_RUN_RESPONSE_SHAPES:
            raise ValueError(
                f"create_run_response_shape must be one of {CREATE_RUN_RESPONSE_SHAPES}, "
                f"got {self.create_run_response_shape!r}"
            )
        if self.retrigger_mode not in RETRIGGER_MODES:
            raise ValueError(f"retrigger_mode must be one of {RETRIGGER_MODES}, got {self.retrigger_mode!r}")
        if not isinstance(self.request_log_size, int) or self.request_log_size < 1:
            raise ValueError(f"request_log_size must be an integer >= 1, got {self.request_log_size!r}")

    def updated(self, changes: Mapping[str, Any], allowed: tuple[str, ...] | None = None) -> EmulatorSettings:
        """A copy with ``changes`` applied (None values ignored).

        :param changes: setting name to new value.
        :param allowed: names that may change; default every setting.
        :raises ValueError: on an unknown or not-allowed name or an invalid value.
        """
        names = allowed if allowed is not None else tuple(field.name for field in dataclasses.fields(self))
        unknown = set(changes) - set(names)
        if unknown:
            raise ValueError(f"unknown or fixed settings: {sorted(unknown)} (allowed: {list(names)})")
        return dataclasses.replace(self, **{key: value for key, value in changes.items() if value is not None})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy, the client secret shown as :data:`REDACTED`."""
        return {**dataclasses.asdict(self), "client_secret": REDACTED}
