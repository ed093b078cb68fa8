"""The ``aep`` connection: its fields, defaults and checks, shared by the sync and async hooks."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from airflow_flowrun import connection_form
from airflow_flowrun.connection_form import (
    DEFAULT_HOST,
    DEFAULT_IMS_TOKEN_URL,
    DEFAULT_SANDBOX,
    DEFAULT_SCOPES,
)
from airflow_flowrun.exceptions import InvalidParameterError

if TYPE_CHECKING:
    from airflow.sdk import Connection

CONN_TYPE = "aep"
DEFAULT_CONN_ID = "aep_default"
DEFAULT_TIMEOUT = float(connection_form.DEFAULT_TIMEOUT)
FLOW_SERVICE_PATH = "/data/foundation/flowservice"


@dataclass(frozen=True)
class AepConnectionSettings:
    """Everything the hooks need from an ``aep`` connection, validated once when it is read.

    The client secret is kept out of ``repr`` so that the settings can be logged safely.
    """

    conn_id: str
    client_id: str
    client_secret: str = field(repr=False)
    org_id: str
    sandbox_name: str = DEFAULT_SANDBOX
    host: str = DEFAULT_HOST
    scopes: str = DEFAULT_SCOPES
    ims_token_url: str = DEFAULT_IMS_TOKEN_URL
    ui_org: str = ""
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_connection(cls, conn: Connection, extra: dict[str, Any]) -> AepConnectionSettings:
        """Build and check the settings from an Airflow connection and its already-read extras.

        :raises InvalidParameterError: naming the connection field that is missing or malformed
        """
        return cls.from_fields(
            conn.conn_id, login=conn.login, password=conn.password, host=conn.host, schema=conn.schema,
            port=conn.port, extra=extra,
        )  # fmt: skip

    @classmethod
    def from_fields(
        cls,
        conn_id: str,
        *,
        login: str | None,
        password: str | None,
        host: str | None,
        schema: str | None = None,
        port: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> AepConnectionSettings:
        """Build and check the settings from a connection's fields."""
        extra = extra or {}
        where = f"connection {conn_id!r}"
        client_id = _required(f"{where} login (OAuth client id)", login)
        client_secret = _required(f"{where} password (OAuth client secret)", password, secret=True)
        org_id = _required(f"{where} extra.org_id", extra.get("org_id"))
        if not org_id.endswith("@AdobeOrg"):
            raise InvalidParameterError(f"{where} extra.org_id", org_id, "an IMS org id ends with '@AdobeOrg'")
        sandbox = str(extra.get("sandbox_name") or DEFAULT_SANDBOX).strip()
        if not sandbox or any(ch.isspace() for ch in sandbox):
            raise InvalidParameterError(f"{where} extra.sandbox_name", sandbox, "must be a sandbox name")
        base_url = _base_url(where, host, schema, port)
        token_url = str(extra.get("ims_token_url") or DEFAULT_IMS_TOKEN_URL).strip()
        _check_url(f"{where} extra.ims_token_url", token_url)
        timeout_value = extra.get("timeout", DEFAULT_TIMEOUT)
        try:
            timeout = float(timeout_value)
        except (TypeError, ValueError):
            timeout = math.nan
        if not math.isfinite(timeout) or timeout <= 0:
            raise InvalidParameterError(f"{where} extra.timeout", timeout_value, "must be a positive number")
        return cls(
            conn_id=conn_id,
            client_id=client_id,
            client_secret=client_secret,
            org_id=org_id,
            sandbox_name=sandbox,
            host=base_url,
            scopes=str(extra.get("scopes") or DEFAULT_SCOPES).replace(" ", ""),
            ims_token_url=token_url,
            ui_org=str(extra.get("ui_org") or org_id),
            timeout=timeout,
        )

    @property
    def flow_service_url(self) -> str:
        """The Flow Service base URL, e.g. ``https://platform.adobe.io/data/foundation/flowservice``."""
        return self.host + FLOW_SERVICE_PATH

    @property
    def token_cache_key(self) -> tuple[str, str, str, str]:
        """Tokens are shared by connections with the same credentials, never across different ones."""
        digest = hashlib.sha256(self.client_secret.encode()).hexdigest()
        return (self.ims_token_url, self.client_id, self.scopes, digest)

    def platform_headers(self) -> dict[str, str]:
        """The Platform headers every Flow Service call carries, except ``Authorization``."""
        return {
            "x-api-key": self.client_id,
            "x-gw-ims-org-id": self.org_id,
            "x-sandbox-name": self.sandbox_name,
            "Accept": "application/json",
        }

    def token_form(self) -> dict[str, str]:
        """The form body of the IMS client-credentials request."""
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": self.scopes,
        }


def _required(param: str, value: Any, *, secret: bool = False) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InvalidParameterError(param, "***" if secret and value else value, "is required")
    return text


def _base_url(where: str, host: str | None, schema: str | None, port: int | None) -> str:
    url = (host or DEFAULT_HOST).strip().rstrip("/")
    if "://" not in url:
        url = f"{schema or 'https'}://{url}"
    if port:
        url = f"{url}:{port}"
    _check_url(f"{where} host", url)
    return url


def _check_url(param: str, url: str) -> None:
    try:
        parsed = urlparse(url)
        parsed.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as err:
        raise InvalidParameterError(param, url, f"is not a valid URL ({err})") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname or any(ch.isspace() for ch in url):
        raise InvalidParameterError(param, url, "must be an http(s) URL such as 'https://platform.adobe.io'")
