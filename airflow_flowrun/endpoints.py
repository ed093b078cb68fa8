"""Where a dataflow reads and writes: its source connections and the AEP datasets of its target connections.

Asset events through an :class:`~airflow.sdk.AssetAlias` and OpenLineage name the datasets an
ingestion wrote to; a flow only names its connections (``sourceConnectionIds`` /
``targetConnectionIds``), so this reads them: ``GET /flows/{id}``, then one ``GET
/sourceConnections/{id}`` and ``GET /targetConnections/{id}`` per connection. A Data Lake target
connection names its dataset in ``params.dataSetId``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_flowrun import api
from airflow_flowrun.validation import validate_uuid

if TYPE_CHECKING:
    from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

SOURCE_CONNECTIONS = "/sourceConnections"
TARGET_CONNECTIONS = "/targetConnections"


@dataclass(frozen=True)
class FlowEndpoints:
    """A flow's source connections (as Flow Service returns them) and the ids of the datasets it writes."""

    flow_id: str
    source_connections: tuple[dict[str, Any], ...]
    dataset_ids: tuple[str, ...]


def read_flow_endpoints(hook: AdobeFlowServiceHook, flow_id: str) -> FlowEndpoints:
    """Read ``flow_id`` and its connections; a target connection without a dataset (not the Data Lake) is skipped."""
    flow = hook.get_flow(validate_uuid("flow_id", flow_id))
    sources = tuple(_read(hook, SOURCE_CONNECTIONS, source_id) for source_id in _ids(flow, "sourceConnectionIds"))
    dataset_ids: list[str] = []
    for connection_id in _ids(flow, "targetConnectionIds"):
        target = _read(hook, TARGET_CONNECTIONS, connection_id)
        dataset_id = (target.get("params") or {}).get("dataSetId")
        if isinstance(dataset_id, str) and dataset_id and dataset_id not in dataset_ids:
            dataset_ids.append(dataset_id)
    return FlowEndpoints(flow_id, sources, tuple(dataset_ids))


def _read(hook: AdobeFlowServiceHook, collection: str, connection_id: str) -> dict[str, Any]:
    path = f"{collection}/{connection_id}"
    return api.first_item(hook.call("GET", path), f"GET {path}")


def _ids(flow: dict[str, Any], key: str) -> list[str]:
    """Connection ids of a flow, each checked to be a UUID before it goes into a path."""
    return [validate_uuid(f"flow {key}", str(value)) for value in flow.get(key) or []]
