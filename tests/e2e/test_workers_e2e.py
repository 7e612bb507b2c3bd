"""The Workers page in real Chromium against a live `manage.py serve` (issue 11 item 13): reached from the nav,
it lists the server's own embedded worker as live (host, pid, threads, apps) and a dead worker with the runs it
held, one still leased to it and one back, each linking to its run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page

from runs.models import Run, WorkerProcess
from runs.status import RunStatus
from runs.store import workers as worker_store
from tests.benchmarks.trees import run_row
from tests.e2e.conftest import ROOT, LiveServer, wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # the server (another process) must see committed rows
SCREENS = ROOT / "var" / "e2e-screens"
DEAD = "gone-host:4242:dead01"


def test_workers_page_shows_the_live_worker_and_a_dead_one_with_its_runs(
        operator_page: Page, live_server_process: LiveServer) -> None:
    page = operator_page
    server = live_server_process
    worker_store.register(DEAD, host="gone-host", pid=4242, threads=2, app_ids=["tree-app"])
    Run.objects.bulk_create([
        run_row("wheld1", status=RunStatus.RUNNING, lease_owner=f"{DEAD}:tok", ended_at=None),
        run_row("wback1"),
    ])
    worker_store.beat(DEAD, app_ids=["tree-app"], runs_done=3, held_run_ids=["wheld1", "wback1"])
    WorkerProcess.objects.filter(id=DEAD).update(last_heartbeat=timezone.now() - timedelta(hours=1))
    # The server's embedded worker writes its row at its next beat (tables are emptied between tests).
    wait_for(lambda: WorkerProcess.objects.filter(stopped_at__isnull=True).exclude(id=DEAD).first(),
             "the server's worker row", timeout=30)
    live_row = WorkerProcess.objects.exclude(id=DEAD).get()

    page.goto(f"{server.url}/runs/")
    page.click("header.top nav a:text-is('Workers')")
    page.wait_for_url(f"{server.url}/workers/")
    live = page.locator(f"#live-workers tr[data-worker='{live_row.id}']")
    assert live.is_visible()
    cells = live.locator("td").all_inner_texts()
    assert cells[1] == live_row.host and cells[2] == str(live_row.pid) and cells[3] == str(live_row.threads)
    assert live_row.app_ids and all(app in cells[4] for app in live_row.app_ids)
    assert page.locator(f"#live-workers tr[data-worker='{DEAD}']").count() == 0

    dead = page.locator(f"#dead-workers tr[data-worker='{DEAD}']")
    assert dead.is_visible() and "UTC" in dead.locator(".died-at time").get_attribute("title")
    held = dead.locator(".held-run[data-run='wheld1']")
    assert "still leased to it" in held.inner_text()
    assert "back: completed" in dead.locator(".held-run[data-run='wback1']").inner_text()
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / "workers-page.png"), full_page=True)

    held.locator("a").click()
    page.wait_for_url(f"{server.url}/runs/wheld1/")
    wait_for(lambda: page.locator("h1").count(), "the run page")
