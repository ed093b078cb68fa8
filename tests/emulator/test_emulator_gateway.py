"""The Platform gateway checks on every Flow Service request, in Adobe's order."""

from __future__ import annotations

import pytest

from airflow_flowrun.emulator import TABLE_FLOW_ID


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"Authorization": None}, 403, "403010"),
        ({"Authorization": "Bearer emu-at-not-a-token-we-issued"}, 401, "401013"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "401013"),
        ({"x-api-key": None}, 403, "403000"),
        ({"x-api-key": "another-client"}, 403, "403003"),
        ({"x-gw-ims-org-id": None}, 400, "400003"),
        ({"x-gw-ims-org-id": "SOMEONEELSE@AdobeOrg"}, 403, "403025"),
        ({"x-sandbox-name": None}, 400, "FLOW-2105-400"),
        ({"x-sandbox-name": "staging"}, 404, "FLOW-2100-404"),
    ],
    ids=[
        "no-token",
        "unknown-token",
        "not-bearer",
        "no-api-key",
        "wrong-api-key",
        "no-org",
        "wrong-org",
        "no-sandbox",
        "unknown-sandbox",
    ],
)
def test_gateway_rejections_carry_adobe_codes(client, overrides, status, code):
    answer = client.request("GET", f"/flows/{TABLE_FLOW_ID}", headers=client.headers(**overrides))

    assert answer.status_code == status
    assert client.error_code(answer) == code


def test_gateway_body_shape_has_error_code_and_message(client):
    answer = client.request("GET", "/runs", headers=client.headers(Authorization=None))

    assert answer.json() == {"error_code": "403010", "message": "Oauth token is missing."}


def test_gateway_checks_token_before_api_key_and_org(client):
    headers = client.headers(Authorization=None, **{"x-api-key": None, "x-gw-ims-org-id": None})

    answer = client.request("GET", "/runs", headers=headers)

    assert client.error_code(answer) == "403010"


def test_gateway_checks_api_key_before_org_and_sandbox(client):
    headers = client.headers(**{"x-api-key": "wrong", "x-gw-ims-org-id": None, "x-sandbox-name": None})

    assert client.error_code(client.request("GET", "/runs", headers=headers)) == "403003"


def test_flow_service_errors_have_documented_shape_and_request_id_header(client):
    answer = client.request("GET", "/runs", headers=client.headers(**{"x-sandbox-name": "nope"}))

    body = answer.json()
    assert set(body) == {"type", "title", "status", "report", "errorMessage", "errorDetails"}
    assert body["type"] == "https://ns.adobe.com/aep/errors/FLOW-2100-404"
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert "nope" in body["report"]["detailed-message"]
    assert body["report"]["request-id"] == answer.headers["x-request-id"]


def test_dev_sandbox_is_known_and_recorded_on_runs(client):
    headers = client.headers(**{"x-sandbox-name": "dev"})
    created = client.request(
        "POST",
        "/runs",
        headers=headers,
        json={
            "flowId": TABLE_FLOW_ID,
            "params": {"startTime": 0, "windowStartTime": 1, "windowEndTime": 2, "deltaColumn": {"name": "id"}},
        },
    )

    assert created.status_code == 201
    assert client.get_run(created.json()["items"][0]["id"])["sandboxName"] == "dev"


def test_unknown_flow_service_path_answers_flow_404_after_gateway(client):
    assert client.error_code(client.request("GET", "/connections")) == "FLOW-1439-404"
    unauthenticated = client.request("GET", "/connections", headers=client.headers(Authorization=None))
    assert client.error_code(unauthenticated) == "403010"
