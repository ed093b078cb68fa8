"""Names that moved between Airflow 3.1 (the oldest we support) and 3.3 (what we develop on).

Import them from here, so the version differences live in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow import __version__ as AIRFLOW_VERSION
from airflow.sdk.log import mask_secret
from packaging.version import Version

#: Airflow 3.3 renders a task's templated trigger kwargs in the triggerer (``start_from_trigger``).
AIRFLOW_V_3_3_PLUS = Version(Version(AIRFLOW_VERSION).base_version) >= Version("3.3")

try:
    from airflow.sdk import conf
except ImportError:  # Airflow < 3.2
    from airflow.configuration import conf  # type: ignore[no-redef,assignment]

try:
    from airflow.sdk.exceptions import (
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        AirflowTaskTimeout,
        TaskDeferralTimeout,
    )
except ImportError:  # Airflow < 3.2
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined,assignment]
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        AirflowTaskTimeout,
        TaskDeferralTimeout,
    )

if TYPE_CHECKING:
    from airflow.sdk import Connection

try:
    from airflow.sdk.log import amask_secret
except ImportError:  # Airflow < 3.2: masking is in-memory bookkeeping, safe to do synchronously

    async def amask_secret(secret: Any, name: str | None = None) -> None:  # type: ignore[misc]
        mask_secret(secret, name)


async def aextra_dejson(conn: Connection) -> dict[str, Any]:
    """A connection's extras, read without blocking the event loop where Airflow offers that (>= 3.2)."""
    reader = getattr(conn, "aextra_dejson", None)
    if reader is not None:
        return await reader()
    return conn.extra_dejson


__all__ = [
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
    "TaskDeferralTimeout",
    "aextra_dejson",
    "amask_secret",
    "conf",
    "mask_secret",
]
