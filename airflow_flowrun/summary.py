"""The run summary (XCom ``flow_run``): one builder shared by the operators, the sensor and the trigger."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow_flowrun.links import flow_run_ui_url
from airflow_flowrun.status import raw_status


def build_summary(run: dict[str, Any], *, ui_org: str, sandbox_name: str) -> dict[str, Any]:
    """Condense a Flow Service run object into the JSON-safe ``flow_run`` summary of the contract.

    Metrics the run does not carry (yet) are ``None``; times are ISO-8601 UTC ending in ``Z``.
    """
    metrics = run.get("metrics") or {}
    durations = metrics.get("durationSummary") or {}
    sizes = metrics.get("sizeSummary") or {}
    records = metrics.get("recordSummary") or {}
    files = metrics.get("fileSummary") or {}
    params = run.get("params") or {}
    started_ms = _number(durations.get("startedAtUTC"))
    completed_ms = _number(durations.get("completedAtUTC"))
    duration = (completed_ms - started_ms) / 1000.0 if started_ms is not None and completed_ms is not None else None
    flow_id = run.get("flowId")
    return {
        "run_id": run.get("id"),
        "flow_id": flow_id,
        "status": raw_status(run),
        "window_start": _int(params.get("windowStartTime")),
        "window_end": _int(params.get("windowEndTime")),
        "started_at": _iso(started_ms),
        "completed_at": completed_at(run),
        "duration_seconds": duration,
        "input_records": _int(records.get("inputRecordCount")),
        "output_records": _int(records.get("outputRecordCount")),
        "failed_records": _int(records.get("failedRecordCount")),
        "input_files": _int(files.get("inputFileCount")),
        "output_files": _int(files.get("outputFileCount")),
        "input_bytes": _int(sizes.get("inputBytes")),
        "output_bytes": _int(sizes.get("outputBytes")),
        "batch_ids": batch_ids(run),
        "errors": run_errors(run),
        "ui_url": flow_run_ui_url(ui_org, sandbox_name, str(flow_id), run.get("id")),
    }


def completed_at(run: dict[str, Any]) -> str | None:
    """When the run's current attempt ended (ISO-8601 UTC), or None while it runs."""
    return _iso(_number(((run.get("metrics") or {}).get("durationSummary") or {}).get("completedAtUTC")))


def run_errors(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Errors of the run and of its activities, run level first, without repeats."""
    found: list[dict[str, Any]] = []
    seen: set[tuple[Any, Any]] = set()
    sources = [(run.get("metrics") or {}).get("statusSummary") or {}]
    sources += [activity.get("statusSummary") or {} for activity in run.get("activities") or []]
    for status_summary in sources:
        for error in status_summary.get("errors") or []:
            if not isinstance(error, dict):
                continue
            entry = {"code": error.get("code"), "message": error.get("message")}
            key = (entry["code"], entry["message"])
            if key not in seen:
                seen.add(key)
                found.append(entry)
    return found


def batch_ids(run: dict[str, Any]) -> list[str]:
    """Batch ids the Promotion activity wrote, from its ``targetInfo`` references of type ``Batch``."""
    ids: list[str] = []
    for activity in run.get("activities") or []:
        for target in activity.get("targetInfo") or []:
            reference = (target or {}).get("reference") or {}
            if str(reference.get("type", "")).lower() == "batch":
                ids.extend(str(batch) for batch in reference.get("ids") or [] if str(batch) not in ids)
    return ids


def has_row_errors(summary: dict[str, Any]) -> bool:
    """True when a run reports failed records or errors (a ``success`` can: partial ingestion)."""
    return bool(summary.get("failed_records")) or bool(summary.get("errors"))


def format_summary(summary: dict[str, Any]) -> str:
    """A readable two-column table of the summary, for task logs."""
    rows = [(key, _shown(value)) for key, value in summary.items() if key != "errors"]
    rows += [(f"error[{i}]", f"{e.get('code')}: {e.get('message')}") for i, e in enumerate(summary["errors"])]
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"  {key.ljust(width)}  {value}" for key, value in rows)


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _iso(epoch_ms: float | None) -> str | None:
    if epoch_ms is None:
        return None
    moment = datetime.fromtimestamp(epoch_ms / 1000.0, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
