"""OpenLineage for an ingestion run (the ``openlineage`` extra): what the flow read, what it wrote, how the run went.

The operators' ``get_openlineage_facets_on_start/complete/failure`` methods delegate to
:class:`IngestionLineage`; the OpenLineage provider's listener calls them (its ``DefaultExtractor``).
OpenLineage and common-compat are imported inside functions only, so without the extra this module
imports cleanly and nothing calls it.

Naming follows OpenLineage's ``Naming.md``:

- an AEP dataset the flow writes: namespace ``aep://<org id without @AdobeOrg>``, name
  ``<sandbox>/datasets/<dataset id>`` (:func:`airflow_flowrun.assets.openlineage_name`);
- an Amazon S3 source (``params.path = "/bucket/prefix"``): namespace ``s3://bucket``, name ``prefix``;
- any other source, as AEP knows it: namespace ``aep://<org id without @AdobeOrg>``, name
  ``<sandbox>/sourceConnections/<source connection id>``.

Lineage never fails the task: what cannot be read (the flow's connections, the run summary) is
logged as a warning and left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_flowrun.assets import ORG_SUFFIX, SCHEME, dataset_uri, openlineage_name

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk.types import Logger

    from airflow_flowrun.endpoints import FlowEndpoints
    from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

#: A run as an operator knows it: its summary once finished, and its id once created.
KnownRun = tuple[dict[str, Any] | None, str | None]
#: Adobe's connection spec of the Amazon S3 source; its source connections name ``/bucket/prefix``.
S3_CONNECTION_SPEC_ID = "ecadc60c-7455-4d87-84dc-2a0e293d997b"


def org_namespace(org_id: str) -> str:
    """``aep://<org id without @AdobeOrg>``: the OpenLineage namespace of everything in one IMS org."""
    return f"{SCHEME}://{org_id.removesuffix(ORG_SUFFIX)}"


def source_name(connection: dict[str, Any], *, org_id: str, sandbox: str) -> tuple[str, str]:
    """``(namespace, name)`` of what a source connection reads: the upstream system's own name where
    one is known (Amazon S3), else the source connection in AEP."""
    spec_id = (connection.get("connectionSpec") or {}).get("id")
    path = (connection.get("params") or {}).get("path")
    if spec_id == S3_CONNECTION_SPEC_ID and isinstance(path, str) and path.strip("/"):
        bucket, _, prefix = path.strip("/").partition("/")
        return f"s3://{bucket}", prefix or "/"
    return org_namespace(org_id), f"{sandbox}/sourceConnections/{connection.get('id')}"


def error_message(summary: dict[str, Any]) -> str:
    """One line for the ``errorMessage`` facet: the run's status and every error code and message."""
    errors = "; ".join(f"{error.get('code')}: {error.get('message')}" for error in summary.get("errors") or [])
    return f"Flow run {summary.get('run_id')} ended with status {summary.get('status')!r}" + (
        f": {errors}" if errors else " (Adobe reported no error details)"
    )


def build_lineage(
    endpoints: FlowEndpoints | None,
    *,
    org_id: str,
    sandbox: str,
    run_id: str | None = None,
    summary: dict[str, Any] | None = None,
    failed: bool = False,
) -> OperatorLineage:
    """The ``OperatorLineage`` of an ingestion, from what is known of it.

    :param endpoints: the flow's source connections and datasets; None when they could not be read
    :param run_id: the flow run id, when the run exists (the ``externalQuery`` run facet)
    :param summary: the finished run's summary (``flow_run`` XCom): the output statistics of its one
        dataset (a flow with several gets none: the run's counts cannot be split among them) and, with
        ``failed``, the ``errorMessage`` run facet
    """
    from airflow.providers.common.compat.openlineage.facet import (
        ErrorMessageRunFacet,
        ExternalQueryRunFacet,
        InputDataset,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    lineage: OperatorLineage = OperatorLineage()
    if endpoints is not None:
        for connection in endpoints.source_connections:
            namespace, name = source_name(connection, org_id=org_id, sandbox=sandbox)
            lineage.inputs.append(InputDataset(namespace=namespace, name=name))
        output_facets: dict[str, Any] = {}
        if summary is not None and len(endpoints.dataset_ids) == 1:
            output_facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(
                rowCount=summary.get("output_records"), size=summary.get("output_bytes")
            )
        for dataset_id in endpoints.dataset_ids:
            namespace, name = openlineage_name(dataset_uri(org_id, sandbox, dataset_id))
            lineage.outputs.append(OutputDataset(namespace=namespace, name=name, outputFacets=dict(output_facets)))
    run_id = (summary or {}).get("run_id") or run_id
    if run_id:
        lineage.run_facets["externalQuery"] = ExternalQueryRunFacet(
            externalQueryId=run_id, source=org_namespace(org_id)
        )
    if summary is not None and failed:
        lineage.run_facets["errorMessage"] = ErrorMessageRunFacet(
            message=error_message(summary), programmingLanguage="python"
        )
    return lineage


class IngestionLineage:
    """Lineage for one operator instance: reads the flow's connections once and keeps them.

    :param hook: the operator's hook (its connection names the org and the sandbox)
    :param flow_id: the dataflow id
    :param summary_xcom_key: the XCom the operator pushes the run summary to
    :param log: where a lineage failure is reported (as a warning; the task goes on)
    """

    def __init__(self, hook: AdobeFlowServiceHook, flow_id: str, *, summary_xcom_key: str, log: Logger) -> None:
        self.hook = hook
        self.flow_id = flow_id
        self.summary_xcom_key = summary_xcom_key
        self.log = log
        self._endpoints: FlowEndpoints | None = None

    def operator_lineage(
        self, task_instance: Any = None, run: KnownRun | None = None, *, failed: bool = False
    ) -> OperatorLineage:
        """What is known now: the datasets, and with ``task_instance`` the run.

        :param task_instance: the task instance that ran; None on start, when no run exists yet
        :param run: ``(summary, run id)`` as the operator object that ran ``task_instance`` knows them
            (either may be None: no run yet, or not finished); None when this object did not run it (a
            test, another caller): then both are read from the task instance's XComs. The listener
            always has them: it builds events in a fork of the task's process, where an XCom read
            would bring nothing new (and, under ``dag.test()``, hangs until OpenLineage kills the fork).
        """
        if run is None and task_instance is not None:
            run = self._pulled_run(task_instance)
        summary, run_id = run or (None, None)
        try:
            settings = self.hook.settings
        except Exception as error:  # a missing or broken connection fails the task elsewhere, not here
            self.log.warning("OpenLineage: no lineage for flow %s: cannot read the connection: %s", self.flow_id, error)
            from airflow.providers.openlineage.extractors import OperatorLineage

            return OperatorLineage()
        return build_lineage(
            self._flow_endpoints(),
            org_id=settings.org_id,
            sandbox=settings.sandbox_name,
            run_id=run_id,
            summary=summary,
            failed=failed,
        )

    def _flow_endpoints(self) -> FlowEndpoints | None:
        if self._endpoints is None:
            try:
                self._endpoints = self.hook.get_flow_endpoints(self.flow_id)
            except Exception as error:  # lineage is best effort: the ingestion's outcome stands without it
                self.log.warning("OpenLineage: cannot read the connections of flow %s: %s", self.flow_id, error)
        return self._endpoints

    def _pulled_run(self, task_instance: Any) -> KnownRun:
        summary = self._pulled(task_instance, self.summary_xcom_key)
        return summary, (None if summary is not None else self._pulled(task_instance, "return_value"))

    def _pulled(self, task_instance: Any, key: str) -> Any:
        try:
            return task_instance.xcom_pull(task_ids=task_instance.task_id, key=key, map_indexes=task_instance.map_index)
        except Exception as error:  # same: a lineage event with less in it, never a failed task
            self.log.warning("OpenLineage: cannot read XCom %r of flow %s: %s", key, self.flow_id, error)
            return None
