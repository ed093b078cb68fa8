"""The ``aep`` connection form as Airflow serves it: what a user sees when adding an AEP connection.

The form is read where the UI reads it, ``GET /ui/connections/hook_meta``, from Airflow's own API
app run in-process. On Airflow 3.2+ it comes from provider info; on 3.1 from the hook's classmethods,
which are also checked directly with the stand-ins Airflow 3.1 puts in place of wtforms and Flask.
The browser itself is driven by ``make test-ui`` (tests/ui).
"""

from __future__ import annotations

import json
import secrets
import sys
import types
from importlib.resources import files
from typing import Any

import airflow
import jsonschema
import pytest
from packaging.version import Version

from airflow_flowrun import connection
from airflow_flowrun.get_provider_info import get_provider_info
from airflow_flowrun.hooks.flow_service import AdobeFlowServiceHook

#: Airflow 3.2 reads the form from provider info; 3.1 calls the hook's classmethods.
DECLARATIVE_FORM = Version(airflow.__version__).release[:2] >= (3, 2)

LABELS = {
    "org_id": "IMS org ID",
    "sandbox_name": "Sandbox",
    "scopes": "Scopes",
    "ims_token_url": "IMS token URL",
    "ui_org": "UI org",
    "timeout": "Request timeout (s)",
}


@pytest.fixture(scope="module")
def aep_form(airflow_db: str) -> dict[str, Any]:
    """The ``aep`` entry of ``GET /ui/connections/hook_meta``, as an admin gets it from the API server."""
    from airflow.api_fastapi.app import create_app, purge_cached_app
    from fastapi.testclient import TestClient

    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
        env.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_hex(32))
        try:
            with TestClient(create_app(apps="core")) as client:
                token = client.get("/auth/token").json()["access_token"]
                answer = client.get("/ui/connections/hook_meta", headers={"Authorization": f"Bearer {token}"})
        finally:
            purge_cached_app()  # no API app or auth manager left behind for other tests of this worker
    assert answer.status_code == 200, answer.text[:2000]
    forms = {entry["connection_type"]: entry for entry in answer.json()}
    assert "aep" in forms, sorted(forms)
    return forms["aep"]


def test_the_form_is_named_after_the_platform(aep_form: dict[str, Any]) -> None:
    assert aep_form["hook_name"] == "Adobe Experience Platform"
    assert aep_form["hook_class_name"] == "airflow_flowrun.hooks.flow_service.AdobeFlowServiceHook"


def test_standard_fields_ask_for_the_credential_and_hide_what_is_unused(aep_form: dict[str, Any]) -> None:
    fields = aep_form["standard_fields"]
    assert fields["url_schema"]["hidden"]
    assert fields["port"]["hidden"]
    shown = {name: (fields[name]["title"], fields[name]["placeholder"]) for name in ("login", "password", "host")}
    assert shown == {
        "login": ("Client ID", "Client ID of the OAuth Server-to-Server credential"),
        "password": ("Client secret", "Retrieve client secret on the same credential"),
        "host": ("Platform gateway URL", "https://platform.adobe.io"),
    }
    assert not any(fields[name]["hidden"] for name in shown)
    assert fields["description"] is None  # the user's own note stays, as Airflow shows it


def test_extra_fields_have_the_contract_keys_and_say_where_each_value_is(aep_form: dict[str, Any]) -> None:
    extra = aep_form["extra_fields"]
    assert {key: field["schema"]["title"] for key, field in extra.items()} == LABELS
    descriptions = {key: field["description"] for key, field in extra.items()}
    for key in ("org_id", "scopes"):
        assert "Adobe Developer Console > your project > OAuth Server-to-Server credential" in descriptions[key]
    assert "@AdobeOrg" in descriptions["org_id"]
    assert "sandbox switcher" in descriptions["sandbox_name"]
    assert "Generate access token" in descriptions["ims_token_url"]


def test_new_connections_start_from_the_defaults(aep_form: dict[str, Any]) -> None:
    values = {key: field["value"] for key, field in aep_form["extra_fields"].items()}
    assert values == {
        "org_id": None,
        "sandbox_name": connection.DEFAULT_SANDBOX,
        "scopes": connection.DEFAULT_SCOPES,
        "ims_token_url": None,
        "ui_org": None,
        "timeout": connection.DEFAULT_TIMEOUT,
    }


def test_no_field_is_prefilled_with_a_mask(aep_form: dict[str, Any]) -> None:
    """Airflow masks the value of any field named like a secret ("token", ...) in this answer: a
    pre-filled IMS token URL would reach the browser, and be saved, as ``***``."""
    assert "***" not in json.dumps(aep_form["extra_fields"])


def test_the_secret_lives_only_in_the_masked_password_field(aep_form: dict[str, Any]) -> None:
    """The client secret is Airflow's ``password`` field, which the form always masks and the API
    redacts; no extra field holds a secret, so none needs a password widget."""
    assert aep_form["standard_fields"]["password"]["title"] == "Client secret"
    assert not any(field["schema"].get("format") == "password" for field in aep_form["extra_fields"].values())


@pytest.mark.skipif(not DECLARATIVE_FORM, reason="Airflow 3.1's form cannot show examples")
def test_the_form_suggests_example_values(aep_form: dict[str, Any]) -> None:
    examples = {key: field["schema"].get("examples") for key, field in aep_form["extra_fields"].items()}
    assert examples["org_id"] == ["0123456789ABCDEF01234567@AdobeOrg"]
    assert examples["sandbox_name"] == ["prod", "dev"]
    assert examples["ims_token_url"] == [connection.DEFAULT_IMS_TOKEN_URL]
    assert examples["ui_org"] == ["mycompany"]


# -- Airflow 3.1: the hook's classmethods ------------------------------------------------------------


@pytest.fixture
def airflow_3_1_stand_ins(monkeypatch: pytest.MonkeyPatch) -> type:
    """wtforms, flask_babel and flask_appbuilder as Airflow 3.1's API server replaces them when it
    asks a hook for its widgets (they need not be installed): its own mock field classes."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService as Service

    fakes = {
        "wtforms": {
            "StringField": Service.MockStringField,
            "IntegerField": Service.MockIntegerField,
            "PasswordField": Service.MockPasswordField,
            "BooleanField": Service.MockBooleanField,
        },
        "flask_babel": {"lazy_gettext": str},
        "flask_appbuilder": {},
        "flask_appbuilder.fieldwidgets": {
            "BS3TextFieldWidget": Service.MockAnyWidget,
            "BS3PasswordFieldWidget": Service.MockAnyWidget,
        },
    }
    for name, attributes in fakes.items():
        monkeypatch.setitem(sys.modules, name, types.SimpleNamespace(**attributes))
    return Service


def test_airflow_3_1_widgets_render_the_same_fields(airflow_3_1_stand_ins: type) -> None:
    widgets = AdobeFlowServiceHook.get_connection_form_widgets()
    assert list(widgets) == list(LABELS)
    declared = get_provider_info()["connection-types"][0]["conn-fields"]
    allowed = (airflow_3_1_stand_ins.MockStringField, airflow_3_1_stand_ins.MockIntegerField)
    for key, widget in widgets.items():
        assert isinstance(widget, allowed), key
        param = widget.param.dump()
        assert param["schema"]["title"] == LABELS[key]
        assert param["description"].startswith(declared[key]["description"])
        assert param["value"] == declared[key]["schema"].get("default")
    assert widgets["timeout"].param.dump()["schema"]["type"] == ["integer", "null"]
    assert widgets["org_id"].param.dump()["description"].endswith("Example: 0123456789ABCDEF01234567@AdobeOrg")
    assert widgets["ims_token_url"].param.dump()["description"].count(connection.DEFAULT_IMS_TOKEN_URL) == 1


def test_airflow_3_1_field_behaviour_matches_provider_info() -> None:
    behaviour = AdobeFlowServiceHook.get_ui_field_behaviour()
    declared = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    assert behaviour == {key.replace("-", "_"): value for key, value in declared.items()}
    schema = json.loads(files("airflow").joinpath("customized_form_field_behaviours.schema.json").read_text())
    jsonschema.validate(behaviour, schema)
    assert behaviour["hidden_fields"] == ["schema", "port"]
