"""The ``aep`` connection form: one table of fields, rendered for every Airflow the provider supports.

Airflow 3.2+ builds the form from provider info (``conn-fields`` and ``ui-field-behaviour``, read
without importing the hook); Airflow 3.1 reads neither and calls the hook's
``get_connection_form_widgets()`` and ``get_ui_field_behaviour()``. Both renderings are built here
from :data:`STANDARD_FIELDS`, :data:`HIDDEN_FIELDS` and :data:`EXTRA_FIELDS`, so the two forms
cannot drift apart. Every label and description says where the Adobe Developer Console (or the
Experience Platform UI) shows the value, so a user can fill the form from the console alone.

This module is plain data: ``get_provider_info`` imports it whenever Airflow lists providers, so it
imports neither Airflow nor the hook at module level, and wtforms only inside :func:`form_widgets`.
Its defaults are the ones :mod:`airflow_flowrun.connection` falls back to (it imports them from here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

DEFAULT_HOST = "https://platform.adobe.io"
DEFAULT_SANDBOX = "prod"
DEFAULT_SCOPES = "openid,session,AdobeID,read_organizations,additional_info.projectedProductContext"
DEFAULT_IMS_TOKEN_URL = "https://ims-na1.adobelogin.com/ims/token/v3"
DEFAULT_TIMEOUT = 30

_CREDENTIAL = "Adobe Developer Console > your project > OAuth Server-to-Server credential"


@dataclass(frozen=True)
class StandardField:
    """How the form shows one of Airflow's own fields (``login``, ``password``, ``host``).

    Airflow's form has no description for these, so the placeholder (shown while the field is
    empty) says where the value comes from.
    """

    label: str
    placeholder: str


@dataclass(frozen=True)
class ExtraField:
    """One field of the connection's ``extra``, stored under its key in :data:`EXTRA_FIELDS`.

    :param examples: offered as suggestions by the 3.2+ form, which never shows placeholders of
        extra fields; the 3.1 form cannot show them, so its description names the first one
        (unless the description already does)
    :param default: pre-filled in a new connection; None leaves the field empty (the hooks then
        use their own default)
    """

    label: str
    description: str
    kind: Literal["string", "number"] = "string"
    default: str | int | None = None
    examples: tuple[str, ...] = ()


STANDARD_FIELDS: dict[str, StandardField] = {
    "login": StandardField("Client ID", "Client ID of the OAuth Server-to-Server credential"),
    "password": StandardField("Client secret", "Retrieve client secret on the same credential"),
    "host": StandardField("Platform gateway URL", DEFAULT_HOST),
}
#: Airflow fields the ``aep`` connection does not use: the gateway URL goes whole into ``host``.
#: ``description`` stays: it is the user's own note about the connection.
HIDDEN_FIELDS: tuple[str, ...] = ("schema", "port")

EXTRA_FIELDS: dict[str, ExtraField] = {
    "org_id": ExtraField(
        "IMS org ID",
        f"Organization ID shown on the credential ({_CREDENTIAL}); it ends in @AdobeOrg.",
        examples=("0123456789ABCDEF01234567@AdobeOrg",),
    ),
    "sandbox_name": ExtraField(
        "Sandbox",
        "Name of the sandbox the flows live in, in lower case: the sandbox switcher at the top of the "
        "Experience Platform UI shows the current one, Sandboxes > Browse lists them all.",
        default=DEFAULT_SANDBOX,
        examples=("prod", "dev"),
    ),
    "scopes": ExtraField(
        "Scopes",
        f"Scopes listed on the credential ({_CREDENTIAL}), comma-separated.",
        default=DEFAULT_SCOPES,
        examples=(DEFAULT_SCOPES,),
    ),
    # No default: Airflow masks the value of every field whose name contains "token" in the form
    # it serves, so a pre-filled URL would reach the browser, and be saved, as "***".
    "ims_token_url": ExtraField(
        "IMS token URL",
        "Adobe IMS token endpoint, as in the credential's 'Generate access token' cURL command. "
        f"Empty: {DEFAULT_IMS_TOKEN_URL}.",
        examples=(DEFAULT_IMS_TOKEN_URL,),
    ),
    "ui_org": ExtraField(
        "UI org",
        "Org segment of links to the Experience Platform UI: what follows '#/@' in its address bar "
        "(your tenant name). Empty: the IMS org ID.",
        examples=("mycompany",),
    ),
    "timeout": ExtraField(
        "Request timeout (s)",
        "Seconds allowed for each HTTP request to IMS and to the gateway.",
        kind="number",
        default=DEFAULT_TIMEOUT,
    ),
}


def conn_fields() -> dict[str, dict[str, Any]]:
    """The ``conn-fields`` of provider info (Airflow 3.2+): label, description and JSON schema per key."""
    fields: dict[str, dict[str, Any]] = {}
    for key, spec in EXTRA_FIELDS.items():
        schema: dict[str, Any] = {"type": [spec.kind, "null"]}
        if spec.default is not None:
            schema["default"] = spec.default
        if spec.examples:
            schema["examples"] = list(spec.examples)
        fields[key] = {"label": spec.label, "description": spec.description, "schema": schema}
    return fields


def ui_field_behaviour(*, provider_info: bool = True) -> dict[str, Any]:
    """Hidden, relabelled and placeholder-carrying standard fields.

    :param provider_info: kebab-case keys as provider info spells them (Airflow 3.2+); False gives
        the snake_case keys of the hook's ``get_ui_field_behaviour()`` (Airflow 3.1)
    """
    behaviour = {
        "hidden_fields": list(HIDDEN_FIELDS),
        "relabeling": {name: spec.label for name, spec in STANDARD_FIELDS.items()},
        "placeholders": {name: spec.placeholder for name, spec in STANDARD_FIELDS.items()},
    }
    if provider_info:
        return {key.replace("_", "-"): value for key, value in behaviour.items()}
    return behaviour


def form_widgets() -> dict[str, Any]:
    """The extra fields as wtforms fields, for Airflow 3.1's ``get_connection_form_widgets()``.

    Airflow 3.1 calls this with wtforms, flask_babel and flask_appbuilder replaced by its own
    stand-ins (they need not be installed), whose fields take only a label, validators, a
    description, a default and a widget: so nothing else is passed. 3.1 allows only string,
    integer, password and boolean fields, so the timeout is an integer field there.
    """
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, StringField

    widgets: dict[str, Any] = {}
    for key, spec in EXTRA_FIELDS.items():
        field_class = IntegerField if spec.kind == "number" else StringField
        description = spec.description
        if spec.examples and spec.default is None and spec.examples[0] not in description:
            description = f"{description} Example: {spec.examples[0]}"
        widgets[key] = field_class(
            lazy_gettext(spec.label), description=description, default=spec.default, widget=BS3TextFieldWidget()
        )
    return widgets
