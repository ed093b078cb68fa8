"""One try's submission made as the operators make it, without a DAG run around it.

Tests that play several tries of one task against the emulator (died, cleared, retried) call
:func:`submit_once` per try, sharing one :class:`DictStore` as the tries of a task share its
``task_state_store``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook
from airflow_flowrun.submission import RunSubmitter, Submission


class DictStore:
    """The ``task_state_store`` interface over a dict, surviving across tries as the real one does."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.values[key] = value


def submit_once(
    store: DictStore | None, started: datetime, flow_id: str, window: tuple[int, int], *, max_tries: int | None = None
) -> Submission:
    """The run one try of a task takes for ``window``: created, re-attached or adopted.

    :param store: the task's state store; None plays Airflow < 3.3, which has none
    :param started: the start of the DAG run the try belongs to
    :param max_tries: the try's ``ti.max_tries`` (Airflow raises it when the task is cleared); None: no ``ti``
    """
    hook = AdobeFlowServiceHook()
    context: dict[str, Any] = {"task_state_store": store, "dag_run": SimpleNamespace(start_date=started)}
    if max_tries is not None:
        context["ti"] = SimpleNamespace(try_number=2, max_tries=max_tries)
    submitter = RunSubmitter(
        hook, context, flow_id=flow_id, window_start=window[0], window_end=window[1], log=logging.getLogger("test")
    )
    return submitter.obtain(
        lambda earlier_runs: hook.create_run(
            flow_id, window_start=window[0], window_end=window[1], earlier_runs=earlier_runs
        )
    )
