"""A user adds an ``aep`` connection in Airflow's UI, in a real browser, and tests it.

Chromium (Debian's) opens the connections page of a throwaway API server, adds a connection by typing
every field of the form, saves it, and presses the row's *Test Connection* button, which makes the
API server fetch a token from the emulator and read a flow. The stored connection is then read back
field by field. Screenshots of the filled form and of the successful test go to ``docs/``.

Run with ``make test-ui`` (about a minute); ``make test`` leaves this folder out.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from airflow_server import api_server, log_tail, run_airflow
from playwright.sync_api import Browser, Locator, Page, Route, expect, sync_playwright

from airflow_flowrun.emulator import FlowServiceEmulator
from airflow_flowrun.emulator.seeds import CLIENT_ID, CLIENT_SECRET, IMS_TOKEN_PATH, ORG_ID

DOCS = Path(__file__).resolve().parents[2] / "docs"
CONN_ID = "aep_console"
#: Playwright's bound on each wait of this test (page loads, clicks, toasts), in milliseconds.
UI_TIMEOUT_MS = 30_000
#: Not the defaults the form pre-fills, so the test proves that what was typed is what is stored.
SANDBOX = "dev"
SCOPES = "openid,AdobeID,read_organizations,additional_info.projectedProductContext"
UI_ORG = "emulatortenant"
TIMEOUT = "20"
DESCRIPTION = "AEP through the local emulator"

pytestmark = pytest.mark.timeout(480)  # under `make test-ui`'s 600 s, so pytest reports and tears down first


class Deployment(NamedTuple):
    base_url: str
    env: dict[str, str]
    home: Path


@pytest.fixture(scope="module")
def emulator() -> Iterator[FlowServiceEmulator]:
    with FlowServiceEmulator() as emu:
        yield emu


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The API server (and UI) of a throwaway Airflow, stopped when the module's tests end."""
    home = tmp_path_factory.mktemp("airflow-ui-home")
    try:
        with api_server(home) as (base_url, env):
            yield Deployment(base_url, env, home)
    except BaseException:
        print(log_tail(home, hide=[CLIENT_SECRET]))
        raise


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    assert executable, "chromium is missing: `make test-ui` installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_a_connection_typed_into_the_form_is_stored_and_tests_successfully(
    page: Page, deployment: Deployment, emulator: FlowServiceEmulator
) -> None:
    typed = {
        "host": emulator.url,
        "login": CLIENT_ID,
        "org_id": ORG_ID,
        "sandbox_name": SANDBOX,
        "scopes": SCOPES,
        "ims_token_url": emulator.url + IMS_TOKEN_PATH,
        "ui_org": UI_ORG,
        "timeout": TIMEOUT,
    }
    try:
        _add_and_test_in_the_ui(page, deployment.base_url, typed)
    except BaseException:
        print(log_tail(deployment.home, hide=[CLIENT_SECRET]))
        raise
    tested = [(r.path, r.headers.get("x-sandbox-name")) for r in emulator.requests]
    assert (IMS_TOKEN_PATH, None) in tested, tested
    assert ("/data/foundation/flowservice/flows", SANDBOX) in tested, tested
    _assert_stored(deployment.env, typed)
    _assert_api_masks_the_secret(deployment.base_url)


def type_into(field: Locator, text: str) -> None:
    """Type ``text`` key by key, as a user does; if the browser dropped a key (a re-render of the
    controlled input under load swallowed it), set the whole value, so the form holds exactly ``text``."""
    field.press_sequentially(text)
    if field.input_value() != text:
        field.fill(text)
    expect(field).to_have_value(text)


def _add_and_test_in_the_ui(page: Page, base_url: str, typed: dict[str, str]) -> None:
    """Add the connection by typing each field, save it, and press its row's Test button."""
    page.goto(f"{base_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    type_into(dialog.locator("input[name=connection_id]"), CONN_ID)
    dialog.get_by_role("combobox").click()
    page.keyboard.type("Adobe Experience")
    page.keyboard.press("Enter")

    type_into(dialog.locator("textarea[name=description]"), DESCRIPTION)
    for name in ("host", "login"):
        type_into(dialog.locator(f"input[name={name}]"), typed[name])
    password = dialog.locator("input[name=password]")
    type_into(password, CLIENT_SECRET)
    expect(password).to_have_attribute("type", "password")  # masked on screen and in the screenshot
    page.screenshot(path=DOCS / "connection-form.png")

    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    for key in ("org_id", "sandbox_name", "scopes", "ims_token_url", "ui_org", "timeout"):
        field = dialog.locator(f"input[name=element_{key}]")
        field.fill("")  # sandbox, scopes and timeout come pre-filled with their defaults
        type_into(field, typed[key])
    expect(dialog.locator("input[name=element_timeout]")).to_have_value(TIMEOUT)
    save = dialog.get_by_role("button", name="Save")
    save.scroll_into_view_if_needed()
    page.screenshot(path=DOCS / "connection-form-extra.png")

    save.click()
    expect(dialog).to_be_hidden()
    if _airflow_refuses_portless_tests():
        page.route("**/api/v2/connections/test", _send_no_port)
    page.get_by_role("row").filter(has_text=CONN_ID).get_by_role("button", name="Test Connection").click()
    toast = page.get_by_role("status").filter(has_text="Test Connection Successful")
    expect(toast).to_contain_text(f"Connected to Flow Service: org {ORG_ID}, sandbox {SANDBOX}")
    expect(toast).to_have_css("opacity", "1")  # done fading in, for the screenshot
    page.screenshot(path=DOCS / "connection-test.png")


def _airflow_refuses_portless_tests() -> bool:
    """Whether this Airflow has the Test button bug of 3.3.2 (apache/airflow#73298, fixed upstream).

    The button sends ``port: 0`` for a connection without a port (the UI's ``Number(null)``), and
    the API takes 0 for a port other than the stored NULL: a test of a stored connection to another
    endpoint must carry its own credentials, so it answers 400 "Bad Request" for every portless
    connection (``aep``, ``http``, ``fs``, ...). Where the API treats 0 as no port, nothing is changed.
    """
    try:
        from airflow.api_fastapi.core_api.routes.public.connections import _same_endpoint
    except ImportError:  # an Airflow without the check (3.1) or with another shape of it
        return False
    return not _same_endpoint(0, None)


def _send_no_port(route: Route) -> None:
    """Send the Test button's request with ``port: null`` instead of ``0``, as the fixed API reads it."""
    body = json.loads(route.request.post_data or "{}")
    if body.get("port") == 0:
        body["port"] = None
    route.continue_(post_data=json.dumps(body))


def _assert_stored(env: dict[str, str], typed: dict[str, str]) -> None:
    """What Airflow stored is what was typed, field by field (read with the CLI, which shows the
    secret: it is compared, never printed, and no function here takes it as an argument, so no
    traceback shows it)."""
    answer = run_airflow(env, "connections", "get", CONN_ID, "--output", "json")
    assert answer.returncode == 0, answer.stderr[-2000:].replace(CLIENT_SECRET, "***")
    (stored,) = json.loads(answer.stdout)
    stored.pop("get_uri")  # it holds the secret too
    secret_stored = stored.pop("password") == CLIENT_SECRET
    assert secret_stored, "the stored client secret is not the one typed"
    assert (stored["conn_type"], stored["description"]) == ("aep", DESCRIPTION)
    assert (stored["host"], stored["login"], stored["schema"], stored["port"]) == (
        typed["host"], typed["login"], None, None,
    )  # fmt: skip
    extra = stored["extra_dejson"]
    # Airflow's number field has stored both 20 and "20" in our runs; the hooks read both.
    assert float(extra.pop("timeout")) == float(TIMEOUT)
    assert extra == {
        "org_id": ORG_ID,
        "sandbox_name": SANDBOX,
        "scopes": SCOPES,
        "ims_token_url": typed["ims_token_url"],
        "ui_org": UI_ORG,
    }


def _assert_api_masks_the_secret(base_url: str) -> None:
    connection = _get_json(base_url, f"/api/v2/connections/{CONN_ID}")
    assert connection["password"] == "***"
    assert connection["login"] == CLIENT_ID


def _get_json(base_url: str, path: str) -> Any:
    with urllib.request.urlopen(f"{base_url}/auth/token", timeout=10) as answer:
        token = json.load(answer)["access_token"]
    request = urllib.request.Request(f"{base_url}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)
