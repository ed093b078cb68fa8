"""Links to the AEP UI: one URL builder, and the operator extra link that uses it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

UI_BASE = "https://experience.adobe.com/#"


def flow_run_ui_url(ui_org: str, sandbox_name: str, flow_id: str, run_id: str | None = None) -> str:
    """The AEP UI page of a run (or of the flow's runs when ``run_id`` is None)."""
    url = f"{UI_BASE}/@{ui_org}/sname:{sandbox_name}/platform/source/dataflows/{flow_id}/activity"
    return f"{url}/{run_id}" if run_id else url


class AdobeFlowRunLink(BaseOperatorLink):
    """Extra link "AEP flow run": the run's page in the AEP UI, once the task has created the run."""

    name = "AEP flow run"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        url = XCom.get_value(key=UI_URL_XCOM_KEY, ti_key=ti_key)
        return url if isinstance(url, str) else ""


#: XCom key under which operators and the sensor store the run's UI link for :class:`AdobeFlowRunLink`.
UI_URL_XCOM_KEY = "flow_run_ui_url"
