"""Issue 10 in real Chromium: the run page of the reference example's main-function run, from a really synced SDK
app (inngest@3 with the example verbatim, inngest@4 and inngest-py) against a live `manage.py serve`. An operator logs in and opens it: the graph
draws the parent and its compute-square child as one graph (two nodes, one edge), the step list names the
invoke step "compute-square-value" (its SHA-1 on hover), and the runtime badge says inngest-js / inngest-py.
The inngest@4 page is saved as docs/sdk-run-page.png (the README shows it).

Everything that touches the database happens before the browser starts: Playwright's sync API runs an event
loop in this thread, and the SDK tests keep Django's async guard on.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS, missing_reason
from tests.sdk.harness import (
    ROOT,
    RUNTIMES,
    SdkAppProcess,
    TributaryServer,
    send,
    sync,
    wait_registered,
    wait_run,
)

COMPUTE_SQUARE_VALUE = "30b458a6577e47eeb2eaae50cb3fc6b8f1351f19"  # sha1("compute-square-value"), both SDKs
USERNAME, PASSWORD = "sdk-operator", "sdk-operator-password"
SCREENSHOT = ROOT / "docs" / "sdk-run-page.png"

pytestmark = pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or "")


@pytest.mark.parametrize("kind", ["js3", "js4", "py"])
def test_the_run_page_of_an_sdk_run_shows_one_graph_the_readable_step_name_and_the_runtime(
        tributary_server: TributaryServer, sdk_app: Callable[..., SdkAppProcess], kind: str) -> None:
    from django.contrib.auth.models import User

    from runs.models import Run

    app = sdk_app(kind)
    sync(app)
    wait_registered(app)
    main = wait_run(tributary_server, send(tributary_server, "main/event"), app.function_id("main-function"))
    assert (main["status"], main["output"]) == ("Completed", "Square of 4 is 16."), (main, app.log()[-3000:])
    parent_id = main["run_id"]
    child_id = Run.objects.get(parent_run_id=parent_id).id
    User.objects.create_user(USERNAME, password=PASSWORD)

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.goto(f"{tributary_server.url}/accounts/login/?next=/runs/{parent_id}/")
            page.fill("input[name=username]", USERNAME)
            page.fill("input[name=password]", PASSWORD)
            page.click("form.login button[type=submit]")
            page.wait_for_url(f"{tributary_server.url}/runs/{parent_id}/")
            page.wait_for_selector("#graph[data-ready]", state="attached", timeout=15000)

            graph = page.evaluate("""() => ({
                nodes: window.tributaryCy.nodes().map(n => ({id: n.id(), label: n.data('label')})),
                edges: window.tributaryCy.edges().map(e => [e.source().id(), e.target().id()]),
            })""")
            assert sorted(node["id"] for node in graph["nodes"]) == sorted([parent_id, child_id]), graph
            assert graph["edges"] == [[parent_id, child_id]], graph
            labels = " ".join(node["label"] for node in graph["nodes"])
            assert "main-function" in labels and "compute-square" in labels, graph

            assert page.locator(".run-head .runtime").inner_text() == RUNTIMES[kind]
            names = page.locator(".waterfall .wf-name")
            assert names.all_inner_texts() == ["compute-square-value"]
            assert COMPUTE_SQUARE_VALUE in (names.first.get_attribute("title") or "")
            details = page.locator(".step-detail summary b").all_inner_texts()
            assert details == ["compute-square-value"], details
            if kind == "js4":
                page.screenshot(path=str(SCREENSHOT), full_page=True)

            # The child's page: the same runtime, and its parent's step by its readable name.
            page.goto(f"{tributary_server.url}/runs/{child_id}/")
            page.wait_for_selector("#graph[data-ready]", state="attached", timeout=15000)
            assert page.locator(".run-head .runtime").inner_text() == RUNTIMES[kind]
            assert "compute-square-value" in page.locator(".run-head .facts").inner_text()
        finally:
            browser.close()
