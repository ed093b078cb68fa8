"""Provider metadata read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point.

Declared as data (no imports of the provider's modules but the plain-data
:mod:`~airflow_flowrun.connection_form`) so that listing providers stays cheap.
"""

from __future__ import annotations

from typing import Any

from airflow_flowrun import __version__, connection_form

_PACKAGE = "airflow_flowrun"


def get_provider_info() -> dict[str, Any]:
    """Describe the package, its modules, its ``[aep_flowrun]`` options and the ``aep`` connection form."""
    return {
        "package-name": "airflow-flowrun",
        "name": "Adobe Experience Platform Flow Service",
        "description": "Create and wait for on-demand flow runs of Adobe Experience Platform source dataflows.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Adobe Experience Platform Flow Service",
                "external-doc-url": "https://developer.adobe.com/experience-platform-apis/references/flow-service/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Adobe Experience Platform Flow Service",
                "python-modules": [f"{_PACKAGE}.hooks.flow_service", f"{_PACKAGE}.hooks.flow_service_async"],
            }
        ],
        "operators": [
            {
                "integration-name": "Adobe Experience Platform Flow Service",
                "python-modules": [f"{_PACKAGE}.operators.flow_run", f"{_PACKAGE}.operators.coverage"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Adobe Experience Platform Flow Service",
                "python-modules": [f"{_PACKAGE}.sensors.flow_run"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Adobe Experience Platform Flow Service",
                "python-modules": [
                    f"{_PACKAGE}.triggers.flow_run",
                    f"{_PACKAGE}.triggers.flow_window",
                    f"{_PACKAGE}.triggers.flow_run_events",
                ],
            }
        ],
        "extra-links": [f"{_PACKAGE}.links.AdobeFlowRunLink", f"{_PACKAGE}.links.AdobeFlowActivityLink"],
        "asset-uris": [
            {
                "schemes": ["aep"],
                "handler": f"{_PACKAGE}.assets.sanitize_uri",
                "factory": f"{_PACKAGE}.assets.create_asset",
                "to_openlineage_converter": f"{_PACKAGE}.assets.convert_asset_to_openlineage",
            }
        ],
        "config": {
            "aep_flowrun": {
                "description": "How the AEP Flow Service provider caches IMS tokens and behaves in a triggerer.",
                "options": {
                    "token_cache": _option(
                        "``file``: the task processes and triggerers of one machine share each IMS token through an "
                        "encrypted, locked file (one token request per credential per machine per token lifetime); "
                        "``process``: each process asks IMS for its own token.",
                        default="file",
                        example="process",
                    ),
                    "token_cache_dir": _option(
                        "Absolute path of the private (0700) directory of the token file. Empty: "
                        "``$XDG_CACHE_HOME/airflow-flowrun/ims-tokens``, or ``~/.cache/airflow-flowrun/ims-tokens``.",
                        default="",
                        example="/var/cache/airflow/aep-tokens",
                    ),
                    "triggerer_gc_freeze": _option(
                        "Call ``gc.freeze()`` once when the first AEP trigger starts in a triggerer, so that full "
                        "garbage collections no longer walk Airflow's heap on the triggerer's event loop.",
                        kind="boolean",
                        default="True",
                        example="False",
                    ),
                },
            }
        },
        "connection-types": [
            {
                "connection-type": "aep",
                "hook-class-name": f"{_PACKAGE}.hooks.flow_service.AdobeFlowServiceHook",
                "hook-name": "Adobe Experience Platform",
                "conn-fields": connection_form.conn_fields(),
                "ui-field-behaviour": connection_form.ui_field_behaviour(),
            }
        ],
    }


def _option(description: str, *, default: str, example: str, kind: str = "string") -> dict[str, Any]:
    return {"description": description, "version_added": "0.1.0", "type": kind, "example": example, "default": default}
