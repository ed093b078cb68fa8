"""Assets that carry what an ingestion landed, and the ``aep`` asset URI scheme.

An operator with ``outlets`` fills each asset event's ``extra`` with the run's essentials
(:func:`event_extra`) where the task ends, in the worker after a sync wait and in
``execute_complete`` after a deferral alike: Airflow sends outlet events only when the task finally
succeeds, and what ``execute()`` wrote before deferring is gone on resume.

Through an :class:`~airflow.sdk.AssetAlias` the operator emits one asset per AEP dataset the flow
writes, ``aep://<org id>/<sandbox>/datasets/<dataset id>``; the scheme is registered in the provider
info with :func:`sanitize_uri`, :func:`create_asset` and :func:`convert_asset_to_openlineage`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:
    from airflow.sdk import Asset

SCHEME = "aep"
ORG_SUFFIX = "@AdobeOrg"

#: Run summary fields copied into an asset event's ``extra`` (see the ``flow_run`` XCom).
EVENT_FIELDS: tuple[str, ...] = (
    "run_id", "flow_id", "status", "window_start", "window_end", "started_at", "completed_at",
    "input_records", "output_records", "failed_records", "input_files", "output_files",
    "input_bytes", "output_bytes", "batch_ids", "ui_url",
)  # fmt: skip


def dataset_uri(org_id: str, sandbox: str, dataset_id: str) -> str:
    """``aep://<org id>/<sandbox>/datasets/<dataset id>``, the asset URI of an AEP dataset."""
    return f"{SCHEME}://{org_id}/{sandbox}/datasets/{dataset_id}"


def create_asset(*, org_id: str, sandbox: str, dataset_id: str, extra: dict[str, Any] | None = None) -> Asset:
    """The asset of an AEP dataset (the ``aep`` scheme's factory)."""
    from airflow.sdk import Asset

    return Asset(uri=dataset_uri(org_id, sandbox, dataset_id), extra=extra)


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Accept ``aep://<org>@AdobeOrg/<sandbox>/datasets/<dataset id>`` only; Airflow calls this on every ``aep`` URI.

    :raises ValueError: naming what is wrong, so a typo in a DAG fails when it is parsed
    """
    if not uri.netloc.endswith(ORG_SUFFIX) or uri.netloc == ORG_SUFFIX:
        raise ValueError(f"An aep:// asset URI names an IMS org (…{ORG_SUFFIX}) as its host, got {uri.netloc!r}")
    parts = uri.path.strip("/").split("/")
    if len(parts) != 3 or parts[1] != "datasets" or not parts[0] or not parts[2]:
        raise ValueError(f"An aep:// asset URI's path is /<sandbox>/datasets/<dataset id>, got {uri.path!r}")
    return uri


def convert_asset_to_openlineage(asset: Asset, lineage_context: Any) -> Any:
    """The OpenLineage dataset of an ``aep`` asset: namespace ``aep://<org id without @AdobeOrg>``,
    name ``<sandbox>/datasets/<dataset id>``."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    namespace, name = openlineage_name(asset.uri)
    return Dataset(namespace=namespace, name=name)


def openlineage_name(uri: str) -> tuple[str, str]:
    """``(namespace, name)`` of an ``aep://`` dataset URI, as OpenLineage's naming wants them."""
    parsed = sanitize_uri(urlsplit(uri))
    return f"{SCHEME}://{parsed.netloc.removesuffix(ORG_SUFFIX)}", parsed.path.strip("/")


def event_extra(summary: dict[str, Any]) -> dict[str, Any]:
    """What an asset event carries: the run summary's essentials (JSON values only)."""
    return {field: summary.get(field) for field in EVENT_FIELDS}


def emit_outlet_events(
    outlets: Iterable[Any],
    outlet_events: Any,
    summary: dict[str, Any],
    dataset_uris: Callable[[], list[str]],
) -> list[str]:
    """Put the run's essentials on each outlet's event; through an alias, add one asset per AEP dataset.

    :param outlets: the task's outlets (``Asset``, ``Asset.ref(...)``, ``AssetAlias``); others are left alone
    :param outlet_events: the task context's ``outlet_events``
    :param dataset_uris: reads the flow's dataset URIs; called at most once, and only when an alias needs them
    :return: the URIs of the assets emitted through aliases
    """
    from airflow.sdk import Asset, AssetAlias
    from airflow.sdk.definitions.asset import AssetRef

    extra = event_extra(summary)
    emitted: list[str] = []
    uris: list[str] | None = None
    for outlet in outlets:
        if isinstance(outlet, AssetAlias):
            uris = dataset_uris() if uris is None else uris
            for uri in uris:
                outlet_events[outlet].add(Asset(uri=uri), extra=dict(extra))
                emitted.append(uri)
        elif isinstance(outlet, Asset | AssetRef):
            outlet_events[outlet].extra.update(extra)
    return emitted


def publish_run_assets(task: Any, context: Any, hook: Any, summary: dict[str, Any]) -> None:
    """Fill the outlet events of ``task`` (an operator or the sensor) for the run of ``summary``.

    The flow's datasets are read (``GET /flows``, ``/targetConnections``) only when an outlet is an alias.
    """
    if not task.outlets:
        return
    settings = hook.settings

    def dataset_uris() -> list[str]:
        endpoints = hook.get_flow_endpoints(str(summary["flow_id"]))
        return [dataset_uri(settings.org_id, settings.sandbox_name, dataset_id) for dataset_id in endpoints.dataset_ids]

    emitted = emit_outlet_events(task.outlets, context["outlet_events"], summary, dataset_uris)
    if emitted:
        task.log.info("Asset events through aliases for the AEP datasets %s", ", ".join(emitted))
