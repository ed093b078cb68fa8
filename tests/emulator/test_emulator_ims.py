"""The emulated IMS token endpoint (OAuth server-to-server, client credentials)."""

from __future__ import annotations

import json
import time

import pytest
import requests

from airflow_flowrun.emulator import CLIENT_ID, CLIENT_SECRET


def test_token_endpoint_issues_long_opaque_bearer_tokens(emu, client):
    first = client.fetch_token()
    second = client.fetch_token()

    assert first.status_code == 200
    body = first.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86399
    assert body["access_token"].startswith("emu-at-")
    assert len(body["access_token"]) >= 64
    assert body["access_token"] != second.json()["access_token"]
    assert emu.token_requests == 2


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"client_id": "someone-else"}, "client_id"), ({"client_secret": "wrong-secret"}, "client_secret")],
)
def test_wrong_client_credentials_answer_401_invalid_client(client, overrides, field):
    answer = client.fetch_token(**overrides)

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert field in answer.json()["error_description"]


@pytest.mark.parametrize(
    ("grant_type", "error"), [("", "invalid_request"), ("authorization_code", "unsupported_grant_type")]
)
def test_missing_or_other_grant_type_answers_400(client, grant_type, error):
    answer = client.fetch_token(grant_type=grant_type)

    assert answer.status_code == 400
    assert answer.json()["error"] == error
    assert answer.json()["error_description"]


@pytest.mark.parametrize("scope", [None, "", " , "])
def test_token_request_without_scope_answers_400_invalid_scope(emu, client, scope):
    form = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    if scope is not None:
        form["scope"] = scope

    answer = client.session.post(f"{client.base_url}/ims/token/v3", data=form)

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_scope"
    assert "scope" in answer.json()["error_description"]


def test_token_request_without_client_id_answers_400(client):
    answer = client.session.post(
        f"{client.base_url}/ims/token/v3", data={"grant_type": "client_credentials", "client_secret": "x"}
    )

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


def test_token_expires_after_configured_lifetime(emu, client):
    emu.token_lifetime = 1
    answer = client.fetch_token()
    assert answer.json()["expires_in"] == 1
    headers = client.headers(Authorization=f"Bearer {answer.json()['access_token']}")

    assert client.request("GET", "/flows", headers=headers).status_code == 200
    time.sleep(1.1)
    expired = client.request("GET", "/flows", headers=headers)

    assert expired.status_code == 401
    assert expired.json() == {"error_code": "401013", "message": "Oauth token is not valid"}


def test_tokens_survive_reset_until_revoked(emu, client):
    assert client.request("GET", "/flows").status_code == 200

    emu.reset()
    assert client.request("GET", "/flows").status_code == 200
    emu.revoke_tokens()
    revoked = client.request("GET", "/flows")

    assert revoked.status_code == 401
    assert client.error_code(revoked) == "401013"


def test_admin_api_revokes_tokens(emu, client):
    assert client.request("GET", "/flows").status_code == 200

    client.session.delete(f"{emu.url}/_emulator/tokens")

    assert client.request("GET", "/flows").status_code == 401


def test_reset_restores_constructor_token_lifetime(emu, client):
    emu.token_lifetime = 5
    emu.reset()

    assert client.fetch_token().json()["expires_in"] == 86399
    assert emu.token_requests == 1
    assert CLIENT_ID in emu.connection


def test_credentials_and_token_prefix_are_configurable():
    from airflow_flowrun.emulator import ORG_ID, SANDBOX, FlowServiceEmulator

    with (
        FlowServiceEmulator(client_id="team-client", client_secret="team-secret", token_prefix="tok-") as emu,
        requests.Session() as session,
    ):
        connection = emu.connection_dict
        assert (connection["login"], connection["password"]) == ("team-client", "team-secret")

        def fetch_token(client_id, client_secret):
            form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
            form["scope"] = "openid,AdobeID"
            return session.post(f"{emu.url}/ims/token/v3", data=form, timeout=10)

        assert fetch_token(CLIENT_ID, CLIENT_SECRET).status_code == 401
        answer = fetch_token("team-client", "team-secret")
        assert answer.status_code == 200
        token = answer.json()["access_token"]
        assert token.startswith("tok-")

        def list_flows(api_key):
            headers = {"Authorization": f"Bearer {token}", "x-api-key": api_key}
            headers |= {"x-gw-ims-org-id": ORG_ID, "x-sandbox-name": SANDBOX}
            return session.get(f"{emu.url}/data/foundation/flowservice/flows", headers=headers, timeout=10)

        assert list_flows("team-client").status_code == 200
        refused = list_flows(CLIENT_ID)
        assert (refused.status_code, refused.json()["error_code"]) == (403, "403003")


def test_a_rotated_secret_refuses_the_old_one_and_the_admin_api_never_shows_it(emu, client):
    emu.update_settings(client_secret="rotated-secret")
    assert client.fetch_token().status_code == 401
    assert client.fetch_token(client_secret="rotated-secret").status_code == 200
    assert emu.connection_dict["password"] == "rotated-secret"

    shown = requests.get(f"{emu.url}/_emulator/settings", timeout=5).text
    assert "rotated-secret" not in shown
    assert json.loads(shown)["client_secret"] == "***"
    with pytest.raises(ValueError, match="client_secret must be a non-empty string, got \\*\\*\\*"):
        emu.update_settings(client_secret=" ")
