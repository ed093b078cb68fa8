"""The JSON run object, shaped like the samples in Adobe's monitoring docs.

Metrics (record, file and size summaries) are zeros until the run finishes: Flow Service only
reports meaningful counts for completed runs. ``durationSummary.startedAtUTC`` appears once the
run leaves ``scheduled``, ``completedAtUTC`` only once it has finished.
"""

from __future__ import annotations

import uuid
from typing import Any

from airflow_flowrun.emulator.runs import FAILED, IN_PROGRESS, SCHEDULED, SUCCESS, Run, to_ms
from airflow_flowrun.emulator.seeds import ORG_ID

FAILED_RUN_ERRORS = [
    {
        "code": "CONNECTOR-1001-500",
        "message": "Something went wrong while reading the source: the connection was reset by the "
        "source system (emulated failure).",
    }
]
FAILED_ERROR_DETAIL = (
    "Copy activity failed: ErrorCode=SourceConnectionReset, 'Type=System.IO.IOException, "
    "Message=Unable to read data from the transport connection (emulated failure).'"
)
PARTIAL_RUN_ERRORS = [{"code": "CONNECTOR-2001-500", "message": "Error occurred at promotion activity."}]


def _uuid_for(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "emulator:" + ":".join(parts)))


def _copied(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(error) for error in errors]


def _partial_extensions(counts: dict[str, int]) -> dict[str, Any]:
    failed, ingested = counts["failedRecordCount"], counts["outputRecordCount"]
    return {
        "errors": [
            {
                "code": "INGEST-1212-400",
                "message": f"Encountered {failed} errors in the data. Successfully ingested {ingested} rows. "
                "Review the associated diagnostic files for additional details.",
            },
            {"code": "MAPPER-3700-400", "recordCount": failed, "message": "Mapper Transform Error"},
        ]
    }


def _copy_activity(run: Run, now: float, counts: dict[str, int]) -> dict[str, Any]:
    done = now >= run.copy_completed_at
    copy_failed = done and run.outcome == "failed"
    duration: dict[str, Any] = {"startedAtUTC": to_ms(run.started_at)}
    if done:
        duration["completedAtUTC"] = to_ms(run.copy_completed_at)
    duration["extensions"] = {"windowStart": run.window_start * 1000, "windowEnd": run.window_end * 1000}
    status: dict[str, Any] = {"status": (FAILED if copy_failed else SUCCESS) if done else IN_PROGRESS}
    status["extensions"] = {"type": "one-time"}
    if copy_failed:
        status["errors"] = _copied(FAILED_RUN_ERRORS)
        status["extensions"]["errorDetail"] = FAILED_ERROR_DETAIL
    return {
        "id": "copyActivity",
        "name": "Copy Activity",
        "updatedAtUTC": to_ms(min(now, run.copy_completed_at)),
        "durationSummary": duration,
        "sizeSummary": {"inputBytes": counts["inputBytes"], "outputBytes": counts["inputBytes"]},
        "recordSummary": {},
        "fileSummary": {"inputFileCount": counts["inputFileCount"], "outputFileCount": counts["inputFileCount"]},
        "statusSummary": status,
        "sourceInfo": [
            {
                "id": _uuid_for("source", run.flow_id),
                "type": "SourceConnection",
                "reference": {"type": "AdfRunId", "ids": [_uuid_for("adf", run.run_id, str(run.attempt))]},
            }
        ],
    }


def _promotion_activity(run: Run, now: float, counts: dict[str, int]) -> dict[str, Any]:
    done = now >= run.completed_at
    duration: dict[str, Any] = {"startedAtUTC": to_ms(run.copy_completed_at)}
    if done:
        duration["completedAtUTC"] = to_ms(run.completed_at)
    status: dict[str, Any] = {"status": SUCCESS if done else IN_PROGRESS}
    if done and run.outcome == "partial":
        status["errors"] = _copied(PARTIAL_RUN_ERRORS)
        status["extensions"] = _partial_extensions(counts)
    return {
        "id": "promotionActivity",
        "name": "Promotion Activity",
        "updatedAtUTC": to_ms(min(now, run.completed_at)),
        "durationSummary": duration,
        "sizeSummary": {"inputBytes": counts["inputBytes"], "outputBytes": counts["outputBytes"]},
        "recordSummary": {
            "inputRecordCount": counts["inputRecordCount"],
            "outputRecordCount": counts["outputRecordCount"],
            "failedRecordCount": counts["failedRecordCount"],
        },
        "fileSummary": {"inputFileCount": counts["inputFileCount"], "outputFileCount": counts["outputFileCount"]},
        "statusSummary": status,
        "targetInfo": [
            {
                "id": _uuid_for("target", run.flow_id),
                "type": "TargetConnection",
                "reference": {"type": "Batch", "ids": [run.batch_id]},
            }
        ],
    }


def _metrics(run: Run, status: str, counts: dict[str, int]) -> dict[str, Any]:
    duration: dict[str, Any] = {}
    if status != SCHEDULED:
        duration["startedAtUTC"] = to_ms(run.started_at)
    errors: list[dict[str, Any]] = []
    activity_refs: list[str] = []
    if status == FAILED:
        errors, activity_refs = _copied(FAILED_RUN_ERRORS), ["copyActivity"]
    elif status == SUCCESS and run.outcome == "partial":
        errors, activity_refs = _copied(PARTIAL_RUN_ERRORS), ["promotionActivity"]
    if status in (SUCCESS, FAILED):
        duration["completedAtUTC"] = to_ms(run.completed_at)
    return {
        "durationSummary": duration,
        "sizeSummary": {"inputBytes": counts["inputBytes"], "outputBytes": counts["outputBytes"]},
        "recordSummary": {
            "inputRecordCount": counts["inputRecordCount"],
            "outputRecordCount": counts["outputRecordCount"],
            "failedRecordCount": counts["failedRecordCount"],
        },
        "fileSummary": {
            "inputFileCount": counts["inputFileCount"],
            "outputFileCount": counts["outputFileCount"],
            "failedFileCount": counts["failedFileCount"],
        },
        "statusSummary": {"status": status, "errors": errors, "activityRefs": activity_refs},
    }


#: Run fields :func:`run_summary` holds (plus everything under ``params.``).
SUMMARY_FIELDS = frozenset(
    {"id", "flowId", "createdAt", "updatedAt", "sandboxName", "imsOrgId", "flowSpec.id", "metrics.statusSummary.status"}
)


def shown(run: Run, now: float) -> Run:
    """The attempt the API shows at ``now``: the failed one for a moment after a same-run re-trigger."""
    if run.previous is not None and now < run.shows_previous_until:
        return run.previous
    return run


def run_summary(run: Run, now: float) -> dict[str, Any]:
    """The few run fields listings filter and sort on most, far cheaper to build than the run."""
    run = shown(run, now)
    return {
        "id": run.run_id,
        "flowId": run.flow_id,
        "createdAt": to_ms(run.created_at),
        "updatedAt": to_ms(run.updated_at(now)),
        "sandboxName": run.sandbox,
        "imsOrgId": ORG_ID,
        "flowSpec": {"id": run.flow_spec_id},
        "params": run.params,
        "metrics": {"statusSummary": {"status": run.status(now)}},
    }


def run_view(run: Run, now: float) -> dict[str, Any]:
    """The run object as ``GET /runs/{id}`` returns it at ``now``."""
    run = shown(run, now)
    status = run.status(now)
    final_counts = run.final_counts()
    finished = status in (SUCCESS, FAILED)
    counts = final_counts if finished else dict.fromkeys(final_counts, 0)
    activities: list[dict[str, Any]] = []
    if status != SCHEDULED:
        activities.append(_copy_activity(run, now, final_counts if now >= run.copy_completed_at else counts))
        if run.outcome != "failed" and now >= run.copy_completed_at:
            activities.append(_promotion_activity(run, now, counts))
    return {
        "id": run.run_id,
        "flowId": run.flow_id,
        "flowSpec": {"id": run.flow_spec_id, "version": "1.0"},
        "createdAt": to_ms(run.created_at),
        "updatedAt": to_ms(run.updated_at(now)),
        "createdBy": f"{run.created_by}@AdobeID",
        "updatedBy": f"{run.created_by}@AdobeID",
        "createdClient": run.created_by,
        "updatedClient": run.created_by,
        "sandboxId": _uuid_for("sandbox", run.sandbox),
        "sandboxName": run.sandbox,
        "imsOrgId": ORG_ID,
        "etag": run.etag(now),
        "params": dict(run.params),
        "metrics": _metrics(run, status, counts),
        "activities": activities,
    }
