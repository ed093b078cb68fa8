"""Links to the AEP UI: one URL builder, and the operator extra links that use it.

Airflow 3 stores an extra link's value (XCom ``_link_<class name>``) only when the task ends or
defers, so a task that waits synchronously for hours would show no link while it waits. The
operators and the sensor therefore publish the links themselves, through :func:`publish_links`,
the moment the run is known; the task runner's own store at the end writes the same value again
(from :meth:`get_link`, which reads what was published on the task, never an XCom: a task that
has no run yet simply has an empty link, and nothing is logged as an error).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

UI_BASE = "https://experience.adobe.com/#"

#: Attribute of the operator that holds the published link values, by link name.
_LINKS_ATTR = "_aep_link_urls"
#: Attribute of the operator that remembers what was pushed, and in which try.
_PUSHED_ATTR = "_aep_links_pushed"


def flow_run_ui_url(ui_org: str, sandbox_name: str, flow_id: str, run_id: str | None = None) -> str:
    """The AEP UI page of a run (or of the flow's runs when ``run_id`` is None)."""
    url = f"{UI_BASE}/@{ui_org}/sname:{sandbox_name}/platform/source/dataflows/{flow_id}/activity"
    return f"{url}/{run_id}" if run_id else url


class _PublishedLink(BaseOperatorLink):
    """A link whose value the task published with :func:`publish_links`; empty until then."""

    name = ""

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return str(getattr(operator, _LINKS_ATTR, {}).get(self.name, ""))


class AdobeFlowRunLink(_PublishedLink):
    """Extra link "AEP flow run": the run's page in the AEP UI, from the moment the run exists."""

    name = "AEP flow run"


class AdobeFlowActivityLink(_PublishedLink):
    """Extra link "AEP flow activity": the page of all runs of the task's flow in the AEP UI."""

    name = "AEP flow activity"


#: The links of the operators and the sensor, in the order the UI shows them.
FLOW_RUN_LINKS = (AdobeFlowRunLink(), AdobeFlowActivityLink())


def publish_links(
    operator: BaseOperator, ti: Any, *, ui_org: str, sandbox_name: str, flow_id: str, run_id: str | None
) -> str:
    """Store both links' values now, under the XCom keys the UI reads; returns the run's URL.

    Without a run yet (a sensor waiting for a flow's window), both links show the flow's runs.
    Only the links the operator declares are stored (the coverage check shows the flow's runs only).

    Values already pushed in this try are not pushed again (a sensor in poke mode calls this on
    every poke); a new try pushes them again, as Airflow cleared the try's XComs.
    """
    urls = {
        AdobeFlowRunLink.name: flow_run_ui_url(ui_org, sandbox_name, flow_id, run_id),
        AdobeFlowActivityLink.name: flow_run_ui_url(ui_org, sandbox_name, flow_id),
    }
    pushed = (getattr(ti, "try_number", None), urls)
    if getattr(operator, _PUSHED_ATTR, None) != pushed:
        for link in operator.operator_extra_links:
            if isinstance(link, _PublishedLink):
                ti.xcom_push(key=link.xcom_key, value=urls[link.name])
        setattr(operator, _PUSHED_ATTR, pushed)
    setattr(operator, _LINKS_ATTR, urls)
    return urls[AdobeFlowRunLink.name]
