"""The operator dashboard in real Chromium against a live Daphne (`manage.py serve`, embedded worker).

Issue 4, Must show 2 and 4: log in; a 3-level chain failing at the leaf shows three red nodes and the Root cause
panel names the leaf's error; a run completing while its page is open turns green without a reload; an anonymous
browser goes to the login page; a <script> in an event payload stays text; the Send event form needs
runs.operate_run. The screenshots in docs/ come from here, and the 10,000-run graph timing is measured here.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import BrowserContext, Dialog, Page

from runs.models import Run, Step
from runs.status import RunStatus, StepKind, StepStatus
from tests.e2e.conftest import ROOT, LiveServer, log_in, run_of_event, wait_for
from tests.e2e.e2e_functions import LEAF_ERROR

pytestmark = pytest.mark.django_db(transaction=True)  # the server (another process) must see committed rows

DOCS = ROOT / "docs"
TERMINAL = {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED}


def graph_nodes(page: Page) -> list[dict[str, Any]]:
    page.wait_for_selector("#graph[data-ready]", state="attached", timeout=15000)
    return page.evaluate(
        "() => window.tributaryCy.nodes().map(n => ({id: n.id(), label: n.data('label'), status: n.data('status')}))")


def test_anonymous_browser_is_sent_to_login(browser_context: BrowserContext, e2e_rows: LiveServer) -> None:
    context = browser_context
    page = context.new_page()
    for path in ("/", "/runs/", "/functions/", "/events/", "/runs/01NOSUCHRUN/"):
        page.goto(f"{e2e_rows.url}{path}")
        assert "/accounts/login/" in page.url, (path, page.url)
        assert page.locator("form.login input[name=password]").is_visible()
    assert page.locator("#live-badge").count() == 0  # nothing live is offered to a stranger


def test_failed_chain_shows_three_red_nodes_and_the_leafs_root_cause(operator_page: Page,
                                                                    live_server_process: LiveServer) -> None:
    page = operator_page
    server = live_server_process
    event_id = server.send("e2e/chain", {"order": str(uuid.uuid4())})
    top = run_of_event(event_id, "e2e-top", TERMINAL)
    assert top.status == RunStatus.FAILED

    page.goto(f"{server.url}/runs/{top.id}/")
    nodes = graph_nodes(page)
    assert len(nodes) == 3, nodes
    assert {node["status"] for node in nodes} == {"failed"}, nodes
    assert any("e2e-leaf" in node["label"] for node in nodes)
    assert page.locator(".run-head .badge").first.inner_text().strip() == "Failed"

    panel = page.locator("#root-cause")
    assert panel.is_visible()
    text = panel.inner_text()
    assert "e2e-leaf" in text and "explode" in text  # the leaf's function and the step that failed
    assert "KeyError" in text and LEAF_ERROR in text  # the leaf's own error, not the parents' wrappers
    assert [a.inner_text() for a in panel.locator(".path a").all()] == ["e2e-leaf", "e2e-middle", "e2e-top"]
    # The propagation path is drawn thick in the graph: both edges of the chain carry the class.
    assert page.evaluate("() => window.tributaryCy.edges('.prop').length") == 2

    # The runs page names the root cause on the failed root's row.
    page.goto(f"{server.url}/runs/?root_only=1&function=e2e-top")
    row = page.locator(f"tr[data-run-id='{top.id}']")
    assert "Failed" in row.locator("td.status").inner_text()
    assert "e2e-leaf" in row.locator("td.cause").inner_text()
    assert "3 runs" in row.locator("td.tree").inner_text()


def test_run_completing_while_its_pages_are_open_turns_green_without_reload(
        browser_context: BrowserContext, operator_page: Page, live_server_process: LiveServer) -> None:
    page = operator_page
    context = browser_context
    server = live_server_process
    runs_page = context.new_page()
    runs_page.goto(f"{server.url}/runs/?function=e2e-waiter")
    runs_page.wait_for_selector("#live-badge.live")
    runs_page.evaluate("() => { window.__stillTheSamePage = true; }")

    token = uuid.uuid4().hex
    event_id = server.send("e2e/wait", {"token": token})
    run = run_of_event(event_id, "e2e-waiter", {RunStatus.WAITING})
    # The new run appeared on the open runs page by itself.
    runs_page.wait_for_selector(f"tr[data-run-id='{run.id}']", timeout=10000)

    page.goto(f"{server.url}/runs/{run.id}/")
    assert [node["status"] for node in graph_nodes(page)] == ["waiting"]
    page.wait_for_selector("#live-badge.live")
    page.evaluate("() => { window.__stillTheSamePage = true; }")

    server.send("e2e/approve", {"token": token, "who": "e2e"})
    page.wait_for_function(
        "id => window.tributaryCy.getElementById(id).data('status') === 'completed'", arg=run.id, timeout=10000)
    page.wait_for_function(
        "() => document.querySelector('.run-head .badge').dataset.status === 'completed'", timeout=10000)
    assert page.evaluate("() => window.__stillTheSamePage") is True  # no reload happened
    runs_page.wait_for_function(
        "id => document.querySelector(`tr[data-run-id='${id}']`).dataset.status === 'completed'", arg=run.id,
        timeout=10000)
    assert runs_page.evaluate("() => window.__stillTheSamePage") is True
    assert "Completed" in runs_page.locator(f"tr[data-run-id='{run.id}'] td.status").inner_text()


def test_script_in_an_event_payload_is_shown_escaped(operator_page: Page, live_server_process: LiveServer) -> None:
    page = operator_page
    server = live_server_process
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    evil = "<script>window.__pwned = 1; alert('xss')</script><img src=x onerror=alert('img')>"
    event_id = server.send("e2e/echo", {"html": evil})
    run = run_of_event(event_id, "e2e-echo", TERMINAL)

    page.goto(f"{server.url}/events/")
    assert evil in page.locator(f"#event-{event_id} td.data").inner_text()  # shown as text
    page.goto(f"{server.url}/runs/{run.id}/")
    graph_nodes(page)
    body = page.locator("#run-io").inner_text()
    assert "<script>window.__pwned = 1;" in body  # event data and output, as text
    page.goto(f"{server.url}/runs/?q={event_id}")
    page.wait_for_timeout(300)
    assert dialogs == []
    assert page.evaluate("() => window.__pwned") is None


def test_send_event_form_needs_the_operate_permission(browser_context: BrowserContext, operator_page: Page,
                                                      live_server_process: LiveServer) -> None:
    page = operator_page
    context = browser_context
    server = live_server_process
    page.goto(f"{server.url}/events/")
    token = uuid.uuid4().hex
    page.fill("#send-event-form input[name=name]", "e2e/echo")
    page.fill("#send-event-form textarea[name=data]", json.dumps({"sent-from": token}))
    page.click("#send-event-form button[type=submit]")
    page.wait_for_url(f"{server.url}/events/")
    assert "Sent e2e/echo" in page.locator(".messages").inner_text()
    assert token in page.locator("table.events").inner_text()

    viewer = context.browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[union-attr]
    try:
        viewer_page = viewer.new_page()
        log_in(viewer_page, server, "e2e-viewer")
        viewer_page.goto(f"{server.url}/events/")
        assert viewer_page.locator("#send-event-form").count() == 0
        csrf = next(c["value"] for c in viewer.cookies() if c["name"] == "csrftoken")
        answer = viewer_page.request.post(f"{server.url}/events/send", form={"name": "e2e/echo", "data": "{}"},
                                          headers={"X-CSRFToken": csrf, "Referer": f"{server.url}/events/"})
        assert answer.status == 403
    finally:
        viewer.close()


def test_screenshots_of_the_demo_for_the_readme(operator_page: Page, live_server_process: LiveServer) -> None:
    page = operator_page
    """docs/runs-page.png and docs/run-page.png: the demo's stories as a newcomer first sees them."""
    from dashboard.demo_functions import DEMO_EVENTS

    server = live_server_process
    ids = {event["name"]: server.send(event["name"], event["data"]) for event in DEMO_EVENTS}
    checkout = run_of_event(ids["demo/checkout"], "checkout", TERMINAL)
    run_of_event(ids["demo/album"], "resize-album", TERMINAL, timeout=30)
    run_of_event(ids["demo/order"], "place-order", TERMINAL)
    run_of_event(ids["demo/account"], "open-account", TERMINAL)
    wait_for(lambda: Run.objects.filter(function_id="send-receipt", status=RunStatus.COMPLETED).exists(),
             "the receipt sent by place-order's event")
    DOCS.mkdir(exist_ok=True)

    page.goto(f"{server.url}/runs/?root_only=1")
    page.wait_for_selector("#live-badge.live")
    page.screenshot(path=str(DOCS / "runs-page.png"))
    page.goto(f"{server.url}/runs/{checkout.id}/")
    graph_nodes(page)
    page.wait_for_timeout(300)  # the first frame of the canvas
    page.screenshot(path=str(DOCS / "run-page.png"))
    assert (DOCS / "runs-page.png").stat().st_size > 10_000


def _big_tree(batches: int = 99, items: int = 100) -> str:
    """A 10,000-run tree (1 root, 99 batches, 9,900 items) inserted directly; one item failed, and its batch and
    the root failed because of it. Every run is finished, so the server's worker leaves them alone."""
    now = timezone.now()
    root_id = f"BIGROOT{uuid.uuid4().hex[:12].upper()}"
    event = {"event_id": f"big-{root_id}", "event_name": "e2e/big", "event_data": {}, "event_ts": 0}
    started, ended = now - timedelta(minutes=5), now - timedelta(minutes=1)
    rows = [Run(id=root_id, app_id="e2e-dashboard", function_id="e2e-big-root", status=RunStatus.FAILED,
                root_run_id=root_id, depth=0, created_at=started, started_at=started, ended_at=ended,
                failure_cause_run_id=f"{root_id}B0", error={"name": "StepError", "message": "batch 0 failed"},
                **event)]
    steps = []
    for b in range(batches):
        batch_id = f"{root_id}B{b}"
        failed = b == 0
        rows.append(Run(id=batch_id, app_id="e2e-dashboard", function_id="e2e-big-batch",
                        status=RunStatus.FAILED if failed else RunStatus.COMPLETED, parent_run_id=root_id,
                        parent_step_id=f"batch-{b}", root_run_id=root_id, depth=1, created_at=started,
                        started_at=started, ended_at=ended, failure_cause_run_id=f"{batch_id}I0" if failed else None,
                        **event))
        steps.append(Step(run_id=root_id, step_id=f"batch-{b}", kind=StepKind.INVOKE, position=b,
                          status=StepStatus.FAILED if failed else StepStatus.COMPLETED, child_run_id=batch_id,
                          attempts=1, started_at=started, ended_at=ended))
        for i in range(items):
            bad = failed and i == 0
            rows.append(Run(id=f"{batch_id}I{i}", app_id="e2e-dashboard", function_id="e2e-big-item",
                            status=RunStatus.FAILED if bad else RunStatus.COMPLETED, parent_run_id=batch_id,
                            parent_step_id=f"item-{i}", root_run_id=root_id, depth=2, created_at=started,
                            started_at=started, ended_at=ended,
                            error={"name": "ValueError", "message": "bad item"} if bad else None, **event))
    Run.objects.bulk_create(rows, batch_size=2000)
    Step.objects.bulk_create(steps)
    assert len(rows) == 1 + batches * (1 + items) == 10_000
    return root_id


def test_the_run_page_of_a_10000_run_tree_shows_its_graph_quickly(operator_page: Page,
                                                                  live_server_process: LiveServer) -> None:
    page = operator_page
    root_id = _big_tree()
    timings = []
    for _ in range(3):
        page.goto(f"{live_server_process.url}/runs/{root_id}/")
        nodes = graph_nodes(page)
        # From navigation start to the graph drawn (server page, scripts, graph JSON, layout, first render).
        timings.append(page.evaluate("() => Number(document.getElementById('graph').dataset.renderMs)"))
    shown = len(nodes)
    failed = [n for n in nodes if n["status"] == "failed"]
    assert 3 <= len(failed) <= 4, failed  # the failure path is expanded (root, batch 0, the bad item)
    assert shown < 1000, shown  # siblings were grouped: the browser draws hundreds of nodes, not 10,000
    best = min(timings)
    print(f"\n10,000-run tree: graph shown in {best:.0f} ms (runs: {[round(t) for t in timings]}), "
          f"{shown} nodes drawn")
    Path(ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / "e2e-graph-timing.json").write_text(json.dumps(
        {"graph_ms": timings, "nodes_drawn": shown, "at": time.time()}))
    assert best < 5000, timings  # the target is 1.5 s; the bound here is generous for slow CI machines


def test_a_chain_failing_while_the_runs_page_is_open_shows_its_root_cause_without_reload(
        operator_page: Page, live_server_process: LiveServer) -> None:
    """Live rows come from the same server renderer as the first page (templates/runs/_run_row.html): the new
    root's row fills in its tree size and root cause as the chain fails, and reads the same after a reload."""
    page = operator_page
    server = live_server_process
    page.goto(f"{server.url}/runs/?root_only=1&function=e2e-top")
    page.wait_for_selector("#live-badge.live")
    page.evaluate("() => { window.__stillTheSamePage = true; }")
    top = run_of_event(server.send("e2e/chain", {"order": str(uuid.uuid4())}), "e2e-top", TERMINAL)
    selector = f"tr[data-run-id='{top.id}']"
    page.wait_for_function(
        """s => { const row = document.querySelector(s);
                  return row && row.dataset.status === 'failed' && row.querySelector('td.cause').textContent.includes('e2e-leaf')
                         && row.querySelector('td.tree').textContent.includes('3 runs'); }""", arg=selector, timeout=10000)
    assert page.evaluate("() => window.__stillTheSamePage") is True
    live_text = page.locator(selector).inner_text()
    page.reload()
    assert page.locator(selector).inner_text() == live_text
