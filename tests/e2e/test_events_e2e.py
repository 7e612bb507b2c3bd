"""Issue 11 item 7, the Events page, in real Chromium against a live `manage.py serve`: filter by name and
time range, search by id prefix, each event's runs linked, pages both ways, and Replay (an operator's, with
CSRF; audited; the new event noted as a replay of the old one and its run started). A viewer has no Replay."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect

from runs.models import Event, OperatorAction, Run
from runs.status import OperatorActionName, RunStatus
from tests.e2e.conftest import ROOT, LiveServer, log_in, run_of_event

pytestmark = pytest.mark.django_db(transaction=True)  # the server (another process) must see committed rows

TERMINAL = {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED}


def local_input(moment: timezone.datetime) -> str:
    """A value for the page's datetime-local inputs (UTC, as their title says)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def shown(page: Page) -> list[str]:
    return page.locator("#events-table tbody tr[data-event-id]").evaluate_all("rows => rows.map(r => r.dataset.eventId)")


def test_events_filter_by_name_time_and_id_and_link_their_runs(
        operator_page: Page, live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    echo = server.send("e2e/echo", {"said": "hello"})
    other = server.send("e2e/nobody-listens", {"n": 1})
    old = server.send("e2e/echo", {"said": "long ago"})
    run = run_of_event(echo, "e2e-echo", TERMINAL)
    run_of_event(old, "e2e-echo", TERMINAL)
    hours_ago = timezone.now() - timedelta(hours=3)
    Event.objects.filter(id=old).update(received_at=hours_ago)

    page.goto(f"{server.url}/events/")
    assert shown(page) == [other, echo, old]
    # Each event's runs, linked; an event nothing listens to says so.
    row = page.locator(f"#event-{echo}")
    expect(row.locator(".event-runs a")).to_have_text("e2e-echo")
    expect(page.locator(f"#event-{other} .event-runs")).to_have_text("none")

    # By name (a datalist offers the functions' triggers).
    page.fill("#event-filters input[name=name]", "e2e/echo")
    page.click("#event-filters button[type=submit]")
    page.wait_for_url(re.compile(r"name=e2e%2Fecho"))
    assert shown(page) == [echo, old]
    assert "e2e/echo" in page.locator("#event-names option").evaluate_all("os => os.map(o => o.value)")
    # And a time range: only the one from three hours ago.
    page.fill("#event-filters input[name=from]", local_input(hours_ago - timedelta(minutes=5)))
    page.fill("#event-filters input[name=to]", local_input(hours_ago + timedelta(minutes=5)))
    page.click("#event-filters button[type=submit]")
    page.wait_for_url(re.compile(r"from="))
    assert shown(page) == [old]
    page.click("#event-filters a.clear")
    page.wait_for_url(f"{server.url}/events/")
    assert shown(page) == [other, echo, old]

    # By id prefix.
    page.fill("#event-filters input[name=q]", echo[:-3])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q="))
    assert shown(page) == [echo]
    page.locator(f"#event-{echo} .event-runs a").click()
    page.wait_for_url(f"{server.url}/runs/{run.id}/")

    # A bad range is said, not a 500.
    page.goto(f"{server.url}/events/?from=2026-01-02&to=2026-01-01")
    expect(page.locator(".messages li.error")).to_contain_text("from must be before to")


def test_replay_sends_the_event_again_as_a_new_one_noted_and_audited(
        operator_page: Page, live_server_process: LiveServer, browser_context: BrowserContext) -> None:
    page, server = operator_page, live_server_process
    original = server.send("e2e/echo", {"said": "<b>again</b>"})
    run_of_event(original, "e2e-echo", TERMINAL)
    page.goto(f"{server.url}/events/")
    page.locator(f"#event-{original} form.replay-form button").click()
    expect(page.locator(".messages li").first).to_contain_text("Replayed e2e/echo as ")
    new = Event.objects.get(replay_of=original)
    assert (new.name, new.data) == ("e2e/echo", {"said": "<b>again</b>"}) and new.id != original
    # The page shows the new event (searched by its id), noted as a replay of the old one, with its run.
    assert shown(page) == [new.id]
    note = page.locator(f"#event-{new.id} .replay-of")
    expect(note).to_contain_text("replay of")
    replayed_run = run_of_event(new.id, "e2e-echo", TERMINAL)
    assert replayed_run.status == RunStatus.COMPLETED and replayed_run.event_data == {"said": "<b>again</b>"}
    page.reload()
    expect(page.locator(f"#event-{new.id} .event-runs a")).to_have_text("e2e-echo")
    note.locator("a").click()  # back to the original
    page.wait_for_url(re.compile(rf"q={original}"))
    assert shown(page) == [original]
    # Audited, with the run it started.
    [record] = OperatorAction.objects.filter(action=OperatorActionName.REPLAY_EVENT)
    assert record.username == "e2e-operator" and record.run_ids == [replayed_run.id]
    page.goto(f"{server.url}/audit/")
    expect(page.locator("table.audit")).to_contain_text("Replay event")
    assert Run.objects.filter(event_id=new.id).count() == 1
    page.goto(f"{server.url}/events/")
    expect(page.locator(f"#event-{new.id} .replay-of")).to_be_visible()
    page.screenshot(path=str(ROOT / "docs" / "events-page.png"))

    # A viewer (no runs.operate_run) sees no Replay, and a forged POST is refused.
    viewer = browser_context.browser.new_context() if browser_context.browser else None
    assert viewer is not None
    try:
        viewer_page = viewer.new_page()
        log_in(viewer_page, server, "e2e-viewer")
        viewer_page.goto(f"{server.url}/events/")
        expect(viewer_page.locator(f"#event-{original}")).to_be_visible()
        expect(viewer_page.locator("form.replay-form")).to_have_count(0)
        token = viewer_page.context.cookies()
        csrf = next(cookie["value"] for cookie in token if cookie["name"] == "csrftoken")
        response = viewer_page.request.post(f"{server.url}/api/events/{original}/replay", data="{}",
                                            headers={"X-CSRFToken": csrf, "Content-Type": "application/json"})
        assert response.status == 403 and "operate_run" in response.text()
    finally:
        viewer.close()
    assert Event.objects.filter(replay_of=original).count() == 1
