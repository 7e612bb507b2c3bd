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
from tests.e2e.conftest import EVENT_KEY, LiveServer, wait_for

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
    page.wait_for_selector("#live-badge.live.live", timeout=10000)
    wait_for(lambda: "live" == page.locator("#live-badge .live-text").inner_text(), "the live badge")
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
