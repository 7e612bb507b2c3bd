"""The Incidents page in real Chromium against a live `manage.py serve` (issue 11 item 6): failed roots grouped by
their root cause's signature ("upstream timeout after 31 s" and "... 12 s" are one incident), reached from the
nav; a new failure joins its incident live, without a reload; "Retry root causes" previews the run ids it will
touch and heals them, and the incident's open count follows live. Takes docs/incidents-page.png."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from runs.models import Incident, OperatorAction, Run
from runs.status import ActionKind, RunStatus
from tests.e2e.conftest import ROOT, LiveServer, run_of_event, wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # the server (another process) must see committed rows
SCREENS = ROOT / "var" / "e2e-screens"
LIVE_MS = 15_000  # what arrives over the socket, on a machine the other suites share


def failed_root(server: LiveServer, name: str, function_id: str, data: dict[str, object]) -> Run:
    return run_of_event(server.send(name, data), function_id, {RunStatus.FAILED})


def test_incidents_group_failures_join_live_and_retry_heals_them(
        operator_page: Page, live_server_process: LiveServer, tmp_path: Path) -> None:
    page, server = operator_page, live_server_process
    flag = tmp_path / f"fixed-{uuid.uuid4().hex}"  # the leaf fails until this file exists
    first = [failed_root(server, "e2e/incident", "e2e-incident-root", {"secs": secs, "flag": str(flag)})
             for secs in (31, 12)]
    failed_root(server, "e2e/chain", "e2e-top", {})  # another root cause: another incident
    incident_id = Run.objects.get(id=first[0].id).incident_id
    assert incident_id and Run.objects.get(id=first[1].id).incident_id == incident_id

    page.click("header.top nav a:text-is('Incidents')")
    page.wait_for_url(f"{server.url}/incidents/")
    expect(page.locator("#incidents-table tbody tr[data-incident]")).to_have_count(2)
    row = page.locator(f"#incidents-table tr[data-incident='{incident_id}']")
    expect(row.locator("td.error")).to_have_text(re.compile(r"TimeoutError\s+upstream timeout after <n> s"))
    expect(row.locator("td.cause")).to_contain_text("e2e-incident-leaf")
    expect(row.locator("td.cause")).to_contain_text("call-upstream")
    expect(row.locator("td.failures")).to_have_text("2")
    expect(row.locator("td.open-count")).to_have_text("2")
    expect(row.locator("td.roots")).to_contain_text("e2e-dashboard/e2e-incident-root")
    expect(row.locator("svg.sparkline")).to_have_attribute("data-total", "2")
    wait_for(lambda: page.locator("#live-badge .live-text").inner_text() == "live", "the Incidents page live")

    # A new failure with another number joins the same incident on the open page.
    third = failed_root(server, "e2e/incident", "e2e-incident-root", {"secs": 7, "flag": str(flag)})
    expect(row.locator("td.failures")).to_have_text("3", timeout=LIVE_MS)
    expect(row.locator("td.open-count")).to_have_text("3", timeout=LIVE_MS)
    expect(page.locator("#incidents-table tbody tr[data-incident]").first).to_have_attribute(
        "data-incident", incident_id, timeout=LIVE_MS)  # newest last_seen first
    page.screenshot(path=str(ROOT / "docs" / "incidents-page.png"), full_page=True)

    roots = sorted(run.id for run in (*first, third))
    row.locator("td.cause a").click()
    page.wait_for_url(f"{server.url}/incidents/{incident_id}/")
    expect(page.locator("#incident-runs tbody tr[data-run]")).to_have_count(3)
    expect(page.locator("#incident-open")).to_have_text("3 runs still failed")
    wait_for(lambda: page.locator("#live-badge .live-text").inner_text() == "live", "the incident page live")

    page.click(f"[data-incident-action='{ActionKind.RETRY}']")
    dialog = page.locator("#action-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".dlg-title")).to_have_text("Retry the root causes of 3 runs?")
    expect(dialog.locator(".dlg-list li")).to_have_count(3)
    assert sorted(dialog.locator(".dlg-list li").all_inner_texts()) == roots
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / "incident-retry-preview.png"), full_page=True)
    assert Run.objects.filter(id__in=roots, status=RunStatus.FAILED).count() == 3  # a preview changes nothing

    flag.write_text("fixed")
    dialog.locator(".dlg-confirm").click()
    expect(page.locator("#action-outcome")).to_have_text(re.compile(r"Retried the root causes of 3 of 3 runs"), timeout=LIVE_MS)
    for root in roots:
        wait_for(lambda root=root: Run.objects.get(id=root).status == RunStatus.COMPLETED, f"{root} healed")
    expect(page.locator("#incident-open")).to_have_text("0 runs still failed", timeout=LIVE_MS)
    expect(page.locator(f"#incident-runs tbody tr[data-status='{RunStatus.COMPLETED}']")).to_have_count(3, timeout=LIVE_MS)
    page.screenshot(path=str(SCREENS / "incident-page-healed.png"), full_page=True)
    incident = Incident.objects.get(id=incident_id)
    assert incident.count == 3  # history kept: the healed runs still count as failures that happened
    audit = OperatorAction.objects.get(action="bulk_retry")
    assert audit.filters == {"incident": incident_id} and sorted(audit.run_ids) == roots
