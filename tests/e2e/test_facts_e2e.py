"""Issue 11 items 2-5: what the dashboard states must be true (real Chromium against a live `manage.py serve`).

Each test names the fact it checks; each failed on the main of 2026-12-05 where the item is a fix.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page

from runs.models import Run
from runs.status import RunStatus
from tests.e2e.conftest import EVENT_KEY, LiveServer, run_of_event, wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # the server (another process) must see committed rows

TERMINAL = {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED}


def send_many(server: LiveServer, events: list[dict[str, Any]]) -> list[str]:
    """Events in one POST /api/events: the server's worker takes them up together."""
    request = urllib.request.Request(f"{server.url}/api/events", data=json.dumps(events).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {EVENT_KEY}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["ids"]


def rows_state(page: Page) -> list[dict[str, Any]]:
    return page.evaluate("""() => [...document.querySelectorAll('#runs-table tbody tr[data-run-id]')].map(tr => ({
        id: tr.dataset.runId, status: tr.dataset.status,
        badge: tr.querySelector('td.status').innerText.trim(),
        duration: tr.querySelector('td.duration').innerText.trim(),
        ticking: !!tr.querySelector('td.duration .ticking')}))""")


# --- item 2: every live row is refreshed, not only the first 20 ----------------------------------------------
def test_item2_thirty_runs_changing_at_once_all_show_their_true_facts(operator_page: Page,
                                                                     live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    page.goto(f"{server.url}/runs/?function=e2e-waiter")
    wait_for(lambda: page.locator("#live-badge .live-text").inner_text() == "live", "the live badge")
    count = 30
    tokens = [str(uuid.uuid4()) for _ in range(count)]
    send_many(server, [{"name": "e2e/wait", "data": {"token": token}} for token in tokens])
    wait_for(lambda: Run.objects.filter(function_id="e2e-waiter", status=RunStatus.WAITING).count() == count,
             f"{count} waiting runs")

    def all_waiting_shown() -> bool:
        rows = rows_state(page)
        return len(rows) == count and all(r["status"] == "waiting" and r["badge"] == "Waiting" for r in rows)

    wait_for(all_waiting_shown, f"{count} new rows, each waiting", timeout=30)
    # New rows came through the batched fetch: each states its true start (a wait ticks, it does not "not start").
    assert all(r["ticking"] and "not started" not in r["duration"] for r in rows_state(page)), rows_state(page)

    send_many(server, [{"name": "e2e/approve", "data": {"token": token, "who": "e2e"}} for token in tokens])
    wait_for(lambda: Run.objects.filter(function_id="e2e-waiter", status=RunStatus.COMPLETED).count() == count,
             f"{count} completed runs")

    def all_completed_and_still() -> bool:
        rows = rows_state(page)
        return len(rows) == count and all(r["badge"] == "Completed" and not r["ticking"]
                                          and re.fullmatch(r"[<\d.]+ ?(ms|s|min)", r["duration"]) for r in rows)

    try:
        wait_for(all_completed_and_still, f"{count} rows completed with a fixed duration", timeout=30)
    except AssertionError:
        bad = [r for r in rows_state(page) if r["ticking"] or r["badge"] != "Completed"]
        raise AssertionError(f"{len(bad)} rows still state something false: {bad[:3]}") from None


# --- item 4: cancelled steps are cancelled (grey, collapsed), not red "Failed" -------------------------------
def step_facts(page: Page, name: str) -> dict[str, Any]:
    return page.evaluate("""(name) => {
        const row = [...document.querySelectorAll('.wf-row')].find(r => r.querySelector('.wf-name').innerText.trim() === name);
        const bar = row.querySelector('.wf-exec');
        const detail = [...document.querySelectorAll('.step-detail')].find(d => d.querySelector('summary b').innerText.trim() === name);
        return {badge: row.querySelector('.wf-facts .badge').innerText.trim(), facts: row.querySelector('.wf-facts').innerText,
                exec: getComputedStyle(bar).backgroundColor, open: detail.open,
                detailBadge: detail.querySelector('summary .badge').innerText.trim()};
    }""", name)


RED = "rgb(220, 38, 38)"  # --failed


def test_item4_a_cancelled_sleep_and_the_invoke_of_a_cancelled_child_show_as_cancelled(
        operator_page: Page, live_server_process: LiveServer) -> None:
    from runs import client

    page, server = operator_page, live_server_process
    sync_event = server.send("demo/sync", {"table": "t"})
    sleeper = run_of_event(sync_event, "nightly-sync", {RunStatus.WAITING})
    client.cancel_run(sleeper.id)
    page.goto(f"{server.url}/runs/{sleeper.id}/")
    sleep = step_facts(page, "pause-between-batches")
    assert sleep["badge"] == "Cancelled" and sleep["detailBadge"] == "Cancelled", sleep
    assert sleep["exec"] != RED and not sleep["open"], sleep
    assert step_facts(page, "first-batch")["badge"] == "Completed"

    token = str(uuid.uuid4())
    hold_event = server.send("e2e/hold", {"token": token})
    leaf = wait_for(lambda: Run.objects.filter(function_id="e2e-hold-leaf", status=RunStatus.WAITING,
                                               parent_run_id__isnull=False).exclude(
        parent_run_id=Run.objects.filter(event_id=hold_event, function_id="e2e-hold-root").values("id")[:1]).first(),
        "the hold leaf under the branch")
    client.cancel_run(leaf.id)  # the leaf alone: its parent's invoke step ends, the parent goes on and fails
    branch = wait_for(lambda: Run.objects.filter(id=leaf.parent_run_id, status__in=TERMINAL).first(), "the branch ends")
    page.goto(f"{server.url}/runs/{branch.id}/")
    invoke = step_facts(page, "call-hold-leaf")
    assert invoke["badge"] == "Cancelled" and invoke["detailBadge"] == "Cancelled", invoke
    assert invoke["exec"] != RED and not invoke["open"], invoke


# --- item 5: a 404 in the app's layout; graph panel shrinks; unknown filter values; invoke timeout; legend ----
def test_item5_missing_run_and_unknown_page_use_the_layout_and_apis_keep_json(operator_page: Page,
                                                                             live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    response = page.goto(f"{server.url}/runs/01NOSUCHRUN/")
    assert response is not None and response.status == 404
    assert page.locator("header.top nav").is_visible()  # the app's layout, its navigation
    assert "run not found" in page.locator("main").inner_text().lower()
    assert page.locator("main a[href='/runs/']").count() >= 1  # a way back
    response = page.goto(f"{server.url}/no/such/page/")
    assert response is not None and response.status == 404
    assert "page not found" in page.locator("main").inner_text().lower() and page.locator("header.top nav").is_visible()
    for path in ("/api/nothing-here", "/api/runs/01NOSUCHRUN", "/fn/nothing", "/v1/nothing", "/e/"):
        response = page.request.get(f"{server.url}{path}")
        assert response.status in (401, 404, 405) and response.headers["content-type"].startswith("application/json"), (
            path, response.status, response.headers)


def test_item5_graph_panel_shrinks_with_the_window(operator_page: Page, live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    for event, function in (("demo/sync", "nightly-sync"), ("e2e/chain", "e2e-top")):  # without, with root cause
        run = run_of_event(server.send(event, {"table": "t", "order": "o"}), function,
                           {RunStatus.WAITING, RunStatus.FAILED})
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(f"{server.url}/runs/{run.id}/")
        page.wait_for_selector("#graph[data-ready]", state="attached", timeout=15000)
        for width in (900, 700):
            page.set_viewport_size({"width": width, "height": 800})

            def fits(width: int = width) -> bool:
                box = page.locator("#graph-fit").bounding_box()
                graph = page.locator("#graph").bounding_box()
                return bool(box and graph and box["x"] + box["width"] <= width and graph["x"] + graph["width"] <= width)

            wait_for(fits, f"the fit button and the graph inside a {width} px window ({function})", timeout=5)
            wait_for(lambda width=width: page.evaluate("() => document.documentElement.scrollWidth") <= width + 1,
                     f"no horizontal scrolling at {width} px ({function})", timeout=5)


def test_item5_an_unknown_filter_value_shows_itself_and_a_way_to_clear_it(operator_page: Page,
                                                                         live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    page.goto(f"{server.url}/runs/?function=zzz")
    selected = page.evaluate("() => document.querySelector('select[name=function]').selectedOptions[0].textContent")
    assert "zzz" in selected and "any" not in selected, selected
    clear = page.locator("#run-filters a.clear")
    assert clear.is_visible()
    clear.click()
    page.wait_for_url(f"{server.url}/runs/")
    assert page.evaluate("() => document.querySelector('select[name=function]').value") == ""


def test_item5_an_invoke_with_a_timeout_states_it_and_measures_from_the_invoke(operator_page: Page,
                                                                             live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    run = run_of_event(server.send("demo/account", {"customer": "ada"}), "open-account", TERMINAL)
    page.goto(f"{server.url}/runs/{run.id}/")
    facts = step_facts(page, "credit-check")["facts"]
    assert re.search(r"timeout 2(\.0)? s", facts), facts
    took = re.search(r"([\d.]+) s since the invoke", facts)
    assert took and 2.0 <= float(took.group(1)) < 3.0, facts
    detail = page.locator(".step-detail", has=page.locator("summary b", has_text="credit-check"))
    detail.evaluate("(d) => { d.open = true; }")
    assert re.search(r"Timeout\s*2(\.0)? s", detail.inner_text()), detail.inner_text()


def test_item5_the_waterfall_legend_colours_match_the_bars(operator_page: Page, live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    run = run_of_event(server.send("e2e/chain", {"order": "o"}), "e2e-top", TERMINAL)
    leaf = wait_for(lambda: Run.objects.filter(root_run_id=run.id, function_id="e2e-leaf").first(), "the leaf")
    sleeper = run_of_event(server.send("demo/sync", {"table": "t"}), "nightly-sync", {RunStatus.WAITING})
    from runs import client

    client.cancel_run(sleeper.id)
    for run_id in (run.id, leaf.id, sleeper.id):  # a failed invoke; a completed and a failed run step; cancelled
        page.goto(f"{server.url}/runs/{run_id}/")
        seen = page.evaluate("""() => {
            const bars = [...document.querySelectorAll('.wf-row')].map(r => ({
                exec: getComputedStyle(r.querySelector('.wf-exec')).backgroundColor,
                execWidth: r.querySelector('.wf-exec').getBoundingClientRect().width,
                wait: getComputedStyle(r.querySelector('.wf-wait')).backgroundImage,
                waitWidth: r.querySelector('.wf-wait').getBoundingClientRect().width,
                status: r.querySelector('.wf-facts .badge').innerText.trim().toLowerCase()}));
            const legend = [...document.querySelectorAll('#steps header .key')].map(k => ({
                colour: getComputedStyle(k).backgroundColor, image: getComputedStyle(k).backgroundImage,
                text: (k.dataset.label || '').toLowerCase()}));
            return {bars, legend};
        }""")
        legend, bars = seen["legend"], seen["bars"]
        assert bars, seen
        for bar in bars:  # every colour a bar shows is in the legend, under the bar's own status when it has one
            if bar["status"] == "cancelled":  # grey as a whole
                assert bar["wait"] == "none" and any(k["text"] == "cancelled" and k["colour"] == bar["exec"]
                                                     for k in legend), (bar, legend)
                continue
            if bar["execWidth"] > 0:
                match = [k for k in legend if k["colour"] == bar["exec"] and k["image"] == "none"]
                assert match, (bar, legend)
                if bar["status"] in ("completed", "failed", "retrying"):
                    assert any(bar["status"] == k["text"] for k in match), (bar, match)
                else:
                    assert any(k["text"] == "executing" for k in match), (bar, match)
            if bar["waitWidth"] > 0:
                assert any(k["image"] == bar["wait"] and k["text"] == "waiting" for k in legend), (bar, legend)


# --- item 3: embedded mode delivers changes made by another process; no "offline" where there is no socket ----
def test_item3_a_change_made_by_another_process_reaches_open_pages_in_embedded_mode(
        operator_page: Page, browser_context: Any, live_server_process: LiveServer) -> None:
    from runs import client

    page, server = operator_page, live_server_process
    token = str(uuid.uuid4())
    run = run_of_event(server.send("e2e/wait", {"token": token}), "e2e-waiter", {RunStatus.WAITING})
    page.goto(f"{server.url}/runs/?function=e2e-waiter")
    wait_for(lambda: page.locator("#live-badge .live-text").inner_text() == "live", "the runs page live")
    graph = browser_context.new_page()
    graph.goto(f"{server.url}/runs/{run.id}/")
    graph.wait_for_selector("#graph[data-ready]", state="attached", timeout=15000)
    wait_for(lambda: graph.locator("#live-badge .live-text").inner_text() == "live", "the run page live")

    # This test process is not the server: its commits never pass through the server's in-memory channel layer.
    client.cancel_run(run.id)
    row = page.locator(f"tr[data-run-id='{run.id}'] td.status")
    wait_for(lambda: row.inner_text().strip() == "Cancelled", "the runs page's row cancelled", timeout=10)
    wait_for(lambda: graph.locator(".run-head .badge").first.inner_text().strip() == "Cancelled"
             or graph.evaluate(f"() => window.tributaryCy.getElementById('{run.id}').data('status')") == "cancelled",
             "the run page's graph cancelled", timeout=10)

    # A run started by another process joins the runs page too.
    other = client.send("e2e/wait", {"token": str(uuid.uuid4())})
    started = run_of_event(other, "e2e-waiter")
    wait_for(lambda: page.locator(f"tr[data-run-id='{started.id}']").count() == 1, "the new row", timeout=10)


def test_item3_pages_without_a_socket_do_not_say_offline(operator_page: Page, live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    for path in ("/audit/", "/apps/"):
        page.goto(f"{server.url}{path}")
        page.wait_for_load_state("load")
        badge = page.locator("#live-badge")
        assert badge.count() == 0 or not badge.is_visible() or "offline" not in badge.inner_text(), (
            path, badge.inner_text())
    page.goto(f"{server.url}/runs/")
    wait_for(lambda: page.locator("#live-badge").is_visible()
             and page.locator("#live-badge .live-text").inner_text() == "live", "the runs page's badge")
