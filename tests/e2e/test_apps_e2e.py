"""Inngest SDK apps in real Chromium against a live `manage.py serve` (issue 10): the Apps page with its cards,
red sync errors and "not enforced" flags, Sync now over real HTTP (the app's URL does not answer: the failure is
the message, and audited), and the run page of an SDK run (built from rows) with its runtime and step names."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from runs.models import OperatorAction
from runs.status import ActionOutcome, OperatorActionName
from tests.e2e.conftest import ROOT, LiveServer, wait_for
from tests.integration.sdk_app_rows import (
    FAILED_STEP,
    FETCH_STEP,
    INVOKE_STEP,
    JS_APP,
    LEAF_MESSAGE,
    NATIVE_APP,
    PY_APP,
    SYNC_ERROR,
    create_sdk_rows,
)

pytestmark = pytest.mark.django_db(transaction=True)  # the server (another process) must see committed rows
SCREENS = ROOT / "var" / "e2e-screens"


def test_apps_page_and_an_sdk_runs_page(operator_page: Page, live_server_process: LiveServer) -> None:
    page = operator_page
    server = live_server_process
    rows = create_sdk_rows()

    page.goto(f"{server.url}/runs/")
    page.click("header.top nav a:text-is('Apps')")
    page.wait_for_url(f"{server.url}/apps/")
    py = page.locator(f".app-card[data-app-id='{PY_APP}']")
    assert py.locator(".app-sdk").inner_text() == "inngest-py 0.5.19"
    assert "3 minutes ago" in py.locator(".app-sync").inner_text().replace("\xa0", " ")
    assert "UTC" in (py.locator(".app-sync .ago").get_attribute("title") or "")
    flags = py.locator(".not-enforced")
    assert flags.count() == 3 and all(flags.nth(i).is_visible() for i in range(3))
    assert "throttle: not enforced" in flags.first.inner_text()
    js = page.locator(f".app-card[data-app-id='{JS_APP}']")
    error = js.locator(".sync-error")
    assert error.inner_text() == SYNC_ERROR  # markup shown as text
    assert error.evaluate("el => getComputedStyle(el).color") == "rgb(185, 28, 28)"  # red
    native = page.locator(f".app-card.native[data-app-id='{NATIVE_APP}']")
    assert native.locator(".runtime").inner_text() == "Python native"
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / "apps-page.png"), full_page=True)

    # Sync now, for real: nothing listens on the app's URL, so the sync fails and says why.
    js.locator("button:text-is('Sync now')").click()
    page.wait_for_url(f"{server.url}/apps/")
    message = page.locator(".messages li.error")
    assert "Sync failed" in message.inner_text() and "127.0.0.1:3999" in message.inner_text()
    entry = wait_for(lambda: OperatorAction.objects.filter(action=OperatorActionName.SYNC_APP).first(),
                     "the audit record of Sync now")
    assert (entry.username, entry.outcome) == ("e2e-operator", ActionOutcome.FAILED)

    # The SDK run's page: runtime in the header, steps by their names (hash on hover), root cause by name.
    page.goto(f"{server.url}/runs/{rows.parent_run_id}/")
    page.wait_for_selector("#graph[data-ready]", state="attached", timeout=15000)
    assert page.locator(".run-head .runtime").inner_text() == "inngest-py"
    names = page.locator(".waterfall .wf-name")
    assert names.all_inner_texts() == [FETCH_STEP, INVOKE_STEP]
    assert rows.invoke_hash in (names.nth(1).get_attribute("title") or "")
    page.screenshot(path=str(SCREENS / "sdk-run-page.png"), full_page=True)
    cause = page.locator("#root-cause").inner_text()
    assert FAILED_STEP in cause and LEAF_MESSAGE in cause and rows.failed_hash not in cause
    labels = page.evaluate("() => window.tributaryCy.nodes().map(n => n.data('label'))")
    assert any("send-receipt" in label for label in labels) and len(labels) == 2
    # The failed invoke step's details are open; its hash is there to copy (click copies it).
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    hash_code = page.locator("#step-1 code.step-hash")
    assert hash_code.inner_text() == rows.invoke_hash
    hash_code.click()
    page.wait_for_selector("#step-1 code.step-hash.copied", timeout=5000)
    assert page.evaluate("() => navigator.clipboard.readText()") == rows.invoke_hash
