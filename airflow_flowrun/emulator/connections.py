"""The source and target connections of the emulator's flows (``GET /sourceConnections/{id}``,
``GET /targetConnections/{id}``).

A flow names them in ``sourceConnectionIds`` / ``targetConnectionIds``. The provider reads the target
connection for the AEP dataset a flow writes to (asset events, OpenLineage) and the source connection
for what it reads. Ids and values are derived from the flow id, so they are the same in every
emulator and a test can name them without asking.
"""

from __future__ import annotations

import uuid
from typing import Any

from airflow_flowrun.emulator.seeds import FlowDefinition

#: Connection specs as Adobe's catalogue names them: Amazon S3, Salesforce, and the Data Lake (target).
S3_CONNECTION_SPEC_ID = "ecadc60c-7455-4d87-84dc-2a0e293d997b"
SALESFORCE_CONNECTION_SPEC_ID = "cfc0fee1-7dc0-40ef-b73e-d8b134c436f5"
DATA_LAKE_CONNECTION_SPEC_ID = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
#: The bucket every file flow of the emulator reads from.
SOURCE_BUCKET = "emulator-drops"


def connection_id(kind: str, flow_id: str) -> str:
    """The id of a flow's ``source``, ``target`` (or ``mapping``) object."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"emulator:{kind}:{flow_id}"))


def dataset_id(flow_id: str) -> str:
    """The AEP dataset a flow writes to: 24 hex digits, as Catalog ids look."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"emulator:dataset:{flow_id}").hex[:24]


def source_table(definition: FlowDefinition) -> str:
    """The table a table flow reads."""
    return f"emulator_{definition.flow_id[:8]}"


def source_path(definition: FlowDefinition) -> str:
    """The folder a file flow reads, as S3 source connections write it (``/bucket/prefix``)."""
    return f"/{SOURCE_BUCKET}/{definition.flow_id[:8]}"


def source_connection_view(definition: FlowDefinition, created_ms: int) -> dict[str, Any]:
    """The flow's source connection: a Salesforce object for table flows, an S3 folder for file flows."""
    table = definition.kind == "table"
    return {
        "id": connection_id("source", definition.flow_id),
        "name": f"{definition.name} source",
        "baseConnectionId": connection_id("base", definition.flow_id),
        "connectionSpec": {"id": SALESFORCE_CONNECTION_SPEC_ID if table else S3_CONNECTION_SPEC_ID, "version": "1.0"},
        "state": "enabled",
        "data": {"format": "tabular" if table else "delimited"},
        "params": {"tableName": source_table(definition)} if table else {"path": source_path(definition)},
        "createdAt": created_ms,
        "updatedAt": created_ms,
    }


def target_connection_view(definition: FlowDefinition, created_ms: int) -> dict[str, Any]:
    """The flow's target connection: the Data Lake, writing to the flow's dataset."""
    return {
        "id": connection_id("target", definition.flow_id),
        "name": f"{definition.name} target",
        "connectionSpec": {"id": DATA_LAKE_CONNECTION_SPEC_ID, "version": "1.0"},
        "state": "enabled",
        "data": {"format": "parquet_xdm"},
        "params": {"dataSetId": dataset_id(definition.flow_id)},
        "createdAt": created_ms,
        "updatedAt": created_ms,
    }
