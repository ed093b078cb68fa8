"""The one place that knows Flow Service run statuses."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    """Status of a flow run (``metrics.statusSummary.status``).

    Adobe's docs spell statuses with varying case (``failed`` / ``Failed``), so parsing ignores case;
    a value we do not know is :attr:`UNKNOWN` and counts as still running, never as finished.
    """

    SCHEDULED = "scheduled"
    IN_PROGRESS = "inProgress"
    SUCCESS = "success"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: Any) -> RunStatus:
        """Map Adobe's status text to a member, case-insensitively; anything else is UNKNOWN."""
        if isinstance(value, str):
            return _BY_LOWER.get(value.strip().lower(), cls.UNKNOWN)
        return cls.UNKNOWN

    @classmethod
    def of_run(cls, run: dict[str, Any]) -> RunStatus:
        """The status of a run object as returned by ``GET /runs``."""
        return cls.parse(raw_status(run))

    def is_terminal(self) -> bool:
        """True when the run will not change any more."""
        return self in (RunStatus.SUCCESS, RunStatus.FAILED)


_BY_LOWER = {member.value.lower(): member for member in RunStatus if member is not RunStatus.UNKNOWN}
_BY_LOWER["in_progress"] = RunStatus.IN_PROGRESS
_BY_LOWER["inprogress"] = RunStatus.IN_PROGRESS


def raw_status(run: dict[str, Any]) -> str | None:
    """The status text exactly as Adobe wrote it, or None when the run carries none yet."""
    summary = ((run.get("metrics") or {}).get("statusSummary")) or {}
    status = summary.get("status")
    return status if isinstance(status, str) else None
