"""Validation of a ``POST /runs`` body, with the error codes Adobe documents.

Checked in this order, first failure wins:

1. body not a JSON object, ``flowId`` missing or not a string → ``FLOW-1384-400``;
2. ``flowId`` names no flow → ``FLOW-1430-400``;
3. the flow's frequency is not ``once`` → ``FLOW-1386-400``;
4. the flow is disabled → ``FLOW-1384-400`` (no dedicated public code; the ``flowId`` param names
   a flow that cannot run);
5. ``params`` missing or not an object, ``startTime``/``windowStartTime``/``windowEndTime``
   missing (the run spec requires all three), a time of the wrong type or negative →
   ``FLOW-1384-400``; a time string that is not an integer → ``FLOW-1340-400``. Times are
   integers or numeric strings of epoch seconds;
6. ``windowEndTime < windowStartTime`` → ``FLOW-1381-400``. An empty window (``windowEndTime ==
   windowStartTime``) is accepted, as Adobe documents 1381 for an end before the start only (the
   provider still refuses empty windows before calling);
7. delta column: sent to a file flow, malformed (not ``{"name": str}``) or, on a table flow's
   first run, not a column of the source → ``FLOW-1384-400``; missing on a table flow's first run
   → ``FLOW-1383-400``; different from the stored one → ``FLOW-1382-400``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from airflow_flowrun.emulator.errors import flow_error
from airflow_flowrun.emulator.seeds import FlowDefinition

_INTEGER = re.compile(r"\s*\d+\s*")


@dataclass(frozen=True)
class RunRequest:
    """A validated run request: integer epoch seconds and the delta column name, if any."""

    start_time: int
    window_start: int
    window_end: int
    delta_column: str | None
    sent_params: dict[str, Any]


def require_flow_id(body: Any) -> str:
    """Return ``body["flowId"]`` or raise ``FLOW-1384-400``."""
    if not isinstance(body, dict):
        raise flow_error("1384", 400, "The request body must be a JSON object with flowId and params.")
    flow_id = body.get("flowId")
    if not isinstance(flow_id, str) or not flow_id:
        raise flow_error("1384", 400, "Missing or invalid run parameter 'flowId'.")
    return flow_id


def check_flow_accepts_runs(flow: FlowDefinition) -> None:
    """Reject recurring (``FLOW-1386-400``) and disabled (``FLOW-1384-400``) flows."""
    if flow.frequency != "once":
        raise flow_error(
            "1386",
            400,
            f"On-demand runs are not supported for flow {flow.flow_id}: its schedule frequency is "
            f"'{flow.frequency}', on-demand ingestion needs 'once'.",
        )
    if flow.state != "enabled":
        raise flow_error("1384", 400, f"Invalid run parameter 'flowId': flow {flow.flow_id} is {flow.state}.")


def parse_epoch_seconds(name: str, value: Any) -> int:
    """Read an epoch-seconds param given as an integer or a numeric string.

    :param name: the param name, used in error messages.
    :param value: the JSON value sent.
    """
    if isinstance(value, bool) or value is None:
        raise flow_error("1384", 400, f"Invalid run parameter '{name}': {value!r} is not epoch seconds.")
    if isinstance(value, int):
        parsed = value
    elif isinstance(value, float) and value.is_integer():
        parsed = int(value)
    elif isinstance(value, str):
        if not _INTEGER.fullmatch(value):
            raise flow_error("1340", 400, f"Unable to parse time '{name}': {value!r}.")
        parsed = int(value)
    else:
        raise flow_error("1384", 400, f"Invalid run parameter '{name}': {value!r} is not epoch seconds.")
    if parsed < 0:
        raise flow_error("1384", 400, f"Invalid run parameter '{name}': {value!r} is negative.")
    return parsed


def _delta_column_name(value: Any) -> str:
    name = value.get("name") if isinstance(value, dict) else None
    if not isinstance(name, str) or not name:
        raise flow_error(
            "1384", 400, f"Invalid run parameter 'deltaColumn': expected {{\"name\": <column>}}, got {value!r}."
        )
    return name


def _check_delta_column(flow: FlowDefinition, stored: str | None, sent: Any) -> str | None:
    if flow.kind == "file":
        if sent is not None:
            raise flow_error(
                "1384", 400, "Invalid run parameter 'deltaColumn': file-based sources take no delta column."
            )
        return None
    if sent is None:
        if stored is None:
            raise flow_error(
                "1383",
                400,
                f"Missing run parameter 'deltaColumn': it is required on the first run of flow {flow.flow_id}.",
            )
        return None
    name = _delta_column_name(sent)
    if stored is None and name not in flow.columns:
        raise flow_error(
            "1384",
            400,
            f"Invalid run parameter 'deltaColumn': '{name}' is not a column of the source "
            f"(columns: {', '.join(flow.columns)}).",
        )
    if stored is not None and name != stored:
        raise flow_error(
            "1382",
            400,
            f"deltaColumn '{name}' differs from the delta column '{stored}' stored in flow {flow.flow_id}.",
        )
    return name


def parse_run_request(flow: FlowDefinition, stored_delta_column: str | None, body: dict[str, Any]) -> RunRequest:
    """Validate the ``params`` of a run request for ``flow``.

    :param flow: the flow named by ``flowId`` (already known to accept runs).
    :param stored_delta_column: the delta column stored in the flow, None before its first run.
    :param body: the whole request body.
    """
    params = body.get("params")
    if not isinstance(params, dict):
        raise flow_error("1384", 400, "Missing or invalid run parameter 'params'.")
    for required in ("startTime", "windowStartTime", "windowEndTime"):
        if required not in params:
            raise flow_error("1384", 400, f"Missing run parameter '{required}'.")
    window_start = parse_epoch_seconds("windowStartTime", params["windowStartTime"])
    window_end = parse_epoch_seconds("windowEndTime", params["windowEndTime"])
    start_time = parse_epoch_seconds("startTime", params["startTime"])
    if window_end < window_start:
        raise flow_error(
            "1381",
            400,
            f"windowEndTime {window_end} must not be before windowStartTime {window_start}.",
        )
    delta_column = _check_delta_column(flow, stored_delta_column, params.get("deltaColumn"))
    return RunRequest(start_time, window_start, window_end, delta_column, params)
