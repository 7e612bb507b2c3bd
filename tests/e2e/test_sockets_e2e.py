"""Live sockets end with the login (issue 8, item 14), in real Chromium against a live `manage.py serve`.

Logging out in one tab closes the live socket of another tab of the same browser at once; that tab's header
badge says "logged out" and links to the login page, which brings the user back to where they were.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.e2e.conftest import PASSWORD, LiveServer

pytestmark = pytest.mark.django_db(transaction=True)  # the server (another process) must see committed rows


@pytest.fixture(scope="module", autouse=True)
def no_session_timer() -> Iterator[None]:
    """This module's server re-checks sessions only every 10 minutes: what closes the socket here is the logout
    itself (autouse, so it is set before the module's server starts)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("RUNS_WS_SESSION_CHECK_SECONDS", "600")
    try:
        yield
    finally:
        patch.undo()


def test_logging_out_in_another_tab_shows_logged_out_with_a_login_link(
        browser_context: BrowserContext, operator_page: Page, live_server_process: LiveServer) -> None:
    assert os.environ["RUNS_WS_SESSION_CHECK_SECONDS"] == "600"
    server = live_server_process
    watching = operator_page  # on /runs/, logged in
    watching.wait_for_selector("#live-badge.live")
    assert watching.locator("#live-badge a.live-login").is_hidden()

    other_tab = browser_context.new_page()
    other_tab.goto(f"{server.url}/functions/")
    other_tab.click("form.logout button[type=submit]")
    other_tab.wait_for_url(f"{server.url}/accounts/login/")

    watching.wait_for_selector("#live-badge.loggedout", timeout=10000)
    assert watching.locator("#live-badge .live-text").inner_text() == "logged out"
    link = watching.locator("#live-badge a.live-login")
    assert link.is_visible()
    link.click()
    watching.wait_for_url(f"{server.url}/accounts/login/?next=/runs/")
    watching.fill("input[name=username]", "e2e-operator")
    watching.fill("input[name=password]", PASSWORD)
    watching.click("form.login button[type=submit]")
    watching.wait_for_url(f"{server.url}/runs/")
    watching.wait_for_selector("#live-badge.live")
