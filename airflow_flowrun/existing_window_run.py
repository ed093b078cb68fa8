"""``on_existing_window_run``: what an operator does when its flow already has a run for its window.

Two DAG runs can cover the same data window (a scheduled run and a manual or backfill run of it),
and two DAGs can ingest through one flow; the AEP UI can start a run too. Each would make its own
ingestion of the window. The operators' ``on_existing_window_run`` says what happens instead:

- ``"create"`` (default): create a run anyway, as if nothing existed.
- ``"reuse"``: take the newest active or succeeded run for exactly this window as this task's
  run; create one only when none exists or all of them failed.
- ``"fail"``: fail without retries, naming the newest active or succeeded run for the window.

A failed run never counts as existing: it ingested nothing reliable. Nor do the task's own earlier
runs (:attr:`~airflow_flowrun.submission.RunSubmitter.earlier_runs`): the exactly-once rules of
:mod:`airflow_flowrun.submission` decide about them first, and only where those would create a run
is the flow looked up here. The lookup is not a lock: two tasks that look at the same moment both
find nothing and both create a run.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from airflow_flowrun.exceptions import ExistingWindowRunError, InvalidParameterError
from airflow_flowrun.links import flow_run_ui_url
from airflow_flowrun.status import RunStatus, raw_status

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

CREATE, REUSE, FAIL = "create", "reuse", "fail"
CHOICES = (CREATE, REUSE, FAIL)


def validate_choice(value: Any) -> str:
    """``value`` when it is one of :data:`CHOICES`, else an error naming ``on_existing_window_run``."""
    if value not in CHOICES:
        raise InvalidParameterError("on_existing_window_run", value, f"must be one of {', '.join(map(repr, CHOICES))}")
    return str(value)


def existing_window_run(
    hook: AdobeFlowServiceHook,
    choice: str,
    *,
    flow_id: str,
    window: tuple[int, int],
    exclude: Collection[str],
    log: Logger,
) -> dict[str, Any] | None:
    """The run to take as this task's instead of creating one, or None to create one.

    Looks at every run of the flow for exactly ``window``, whenever it was created (listed newest
    first, so paging stops at the first run that counts).

    :param choice: the operator's ``on_existing_window_run``; ``"create"`` looks nothing up
    :param exclude: the task's own earlier runs for this window, which never count
    :return: with ``"reuse"``, the newest active or succeeded run of the window, if any
    :raises ExistingWindowRunError: with ``"fail"``, when such a run exists
    """
    if choice == CREATE:
        return None

    def counts(run: dict[str, Any]) -> bool:
        return run.get("id") not in exclude and RunStatus.of_run(run) is not RunStatus.FAILED

    run = hook.find_window_run(flow_id, *window, created_after_ms=0, accept=counts)
    if run is None:
        log.info(
            "Flow %s has no active or succeeded run for window [%d, %d) besides this task's own; creating one "
            "(on_existing_window_run=%r)",
            flow_id, *window, choice,
        )  # fmt: skip
        return None
    settings = hook.settings
    ui_url = flow_run_ui_url(settings.ui_org, settings.sandbox_name, flow_id, run["id"])
    if choice == FAIL:
        raise ExistingWindowRunError(run["id"], raw_status(run), window, ui_url)
    log.info(
        "Reusing flow run %s (status %s) that already exists for window [%d, %d) of flow %s "
        "(on_existing_window_run='reuse'): %s",
        run["id"], raw_status(run), *window, flow_id, ui_url,
    )  # fmt: skip
    return run
