"""Issue 11 items 9 and 11 in real Chromium against a live `manage.py serve`.

Item 9: "Retry from this step" in a step's details (the steps before it replay, it and the later ones run again:
the side effects say so), and Retry ▾ "from start with edited input": a JSON editor prefilled with the event data
that shows parse errors inline and keeps its submit disabled while the text is invalid; the new run links to the
old one and back. Item 11: Pause on the Functions page (the function's new run stays queued while other runs
complete; "paused" shows on Functions, Runs, the run page and Apps), then Resume (the run completes). All audited.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from runs.models import Function, OperatorAction, Run, Step
from runs.status import RunStatus
from tests.e2e.conftest import ROOT, LiveServer, run_of_event, wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # the server (another process) must see committed rows

TERMINAL = {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED}
DOCS = ROOT / "docs"  # the screenshots docs/dashboard.md shows


def effects_of(path: Path) -> Counter[str]:
    return Counter(path.read_text().split()) if path.exists() else Counter()


def run_page_ready(page: Page) -> None:
    page.wait_for_selector("#graph[data-ready]", state="attached", timeout=15000)
    page.wait_for_selector("#live-badge.live", timeout=10000)


# Item 9: retry from a chosen step
def test_retry_from_this_step_replays_earlier_steps_and_runs_the_rest_again(
        operator_page: Page, live_server_process: LiveServer, tmp_path: Path) -> None:
    page, server = operator_page, live_server_process
    effects = tmp_path / "effects.log"
    run = run_of_event(server.send("e2e/three-steps", {"effects": str(effects)}), "e2e-three-steps", TERMINAL)
    assert run.status == RunStatus.COMPLETED and effects_of(effects) == Counter(one=1, two=1, three=1)

    page.goto(f"{server.url}/runs/{run.id}/")
    run_page_ready(page)
    two = Step.objects.get(run_id=run.id, step_id="two")
    detail = page.locator(f"#step-{two.position}")
    detail.locator("summary").click()
    button = detail.get_by_role("button", name="Retry from this step")
    expect(button).to_be_visible()
    button.click()

    dialog = page.locator("#action-dialog")
    expect(dialog).to_be_visible()
    assert "2 steps run again" in dialog.inner_text()
    assert dialog.locator(".dlg-list li").all_inner_texts() == ["two", "three"]
    assert effects_of(effects) == Counter(one=1, two=1, three=1)  # nothing done before the confirm
    dialog.locator(".dlg-confirm").click()

    expect(page.locator("#action-outcome")).to_contain_text("Retrying this run from step “two”")
    wait_for(lambda: effects_of(effects) == Counter(one=1, two=2, three=2), "steps two and three run again")
    again = run_of_event(run.event_id, "e2e-three-steps", TERMINAL)
    assert again.id == run.id and again.status == RunStatus.COMPLETED  # the same run, not a new one
    # Live on the open page: completed again, step two with both attempts, the audit entry.
    expect(page.locator(".run-head .badge")).to_have_attribute("data-status", "completed", timeout=15000)
    expect(page.locator(f"#step-{two.position} summary")).to_contain_text("2 attempts", timeout=15000)
    expect(page.locator("#run-audit tr.audit-entry[data-action=retry_from_step]")).to_have_count(1, timeout=15000)
    entry = OperatorAction.objects.get(action="retry_from_step")
    assert entry.username == "e2e-operator" and entry.run_ids == [run.id] and "from step two" in entry.detail


# Item 9: rerun from the start with edited input
def test_rerun_with_edited_input_validates_the_json_and_links_both_runs(
        operator_page: Page, live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    original = run_of_event(server.send("e2e/echo", {"n": 1, "who": "first"}), "e2e-echo", TERMINAL)

    page.goto(f"{server.url}/runs/{original.id}/")
    run_page_ready(page)
    page.click("#retry-menu summary")
    page.click("#retry-menu [data-rerun-edit]")
    dialog = page.locator("#rerun-dialog")
    expect(dialog).to_be_visible()
    editor, problem, submit = dialog.locator("#rerun-data"), dialog.locator("#rerun-data-error"), dialog.locator(
        "#rerun-submit")
    assert json.loads(editor.input_value()) == {"n": 1, "who": "first"}  # prefilled
    expect(submit).to_be_enabled()

    editor.fill('{"n": 2, "who": ')  # a parse error: shown inline, submit disabled
    expect(problem).to_contain_text("Not valid JSON")
    expect(submit).to_be_disabled()
    expect(editor).to_have_attribute("aria-invalid", "true")
    editor.fill("[1, 2]")  # JSON, but not an object
    expect(problem).to_contain_text("must be a JSON object")
    expect(submit).to_be_disabled()
    editor.fill('{"n": 2, "who": "edited", "tags": ["a", "b"]}')
    expect(problem).to_have_text("")
    expect(submit).to_be_enabled()
    page.screenshot(path=str(DOCS / "rerun-edited-input.png"))
    assert Run.objects.filter(rerun_of_run_id=original.id).count() == 0  # nothing done before the submit
    submit.click()

    outcome = page.locator("#action-outcome")
    expect(outcome).to_contain_text("Rerun with edited input started")
    rerun = wait_for(lambda: Run.objects.filter(rerun_of_run_id=original.id).first(), "the rerun")
    done = run_of_event(rerun.event_id, "e2e-echo", TERMINAL)
    assert done.status == RunStatus.COMPLETED
    assert done.output == {"said": {"n": 2, "who": "edited", "tags": ["a", "b"]}}
    original.refresh_from_db()
    assert original.event_data == {"n": 1, "who": "first"}  # the old run keeps its input

    # Linked both ways: the outcome's link opens the new run, which names the old one, which names the new one.
    outcome.locator("a").click()
    page.wait_for_url(f"{server.url}/runs/{rerun.id}/")
    link = page.locator("a.rerun-of")
    expect(link).to_have_attribute("href", f"/runs/{original.id}/")
    assert '"edited"' in page.locator("#run-io").inner_text()
    link.click()
    page.wait_for_url(f"{server.url}/runs/{original.id}/")
    expect(page.locator(".reruns a.rerun")).to_have_attribute("href", f"/runs/{rerun.id}/")
    assert "rerun as" in page.locator(".run-head").inner_text()
    entry = OperatorAction.objects.get(action="retry_from_start")
    assert set(entry.run_ids) == {original.id, rerun.id} and "edited input" in entry.detail


# Item 11: pause and resume a function
def test_pause_holds_new_runs_everywhere_until_resume(operator_page: Page, live_server_process: LiveServer,
                                                      tmp_path: Path) -> None:
    page, server = operator_page, live_server_process
    effects = tmp_path / "effects.log"

    page.goto(f"{server.url}/functions/")
    row = page.locator("table.functions tr[data-function-id='e2e-pausable']")
    row.get_by_role("button", name="Pause").click()
    dialog = page.locator("#action-dialog")
    expect(dialog).to_be_visible()
    assert "none starts until you resume it" in dialog.inner_text()
    dialog.locator(".dlg-confirm").click()
    expect(row.locator(".paused-badge")).to_be_visible()
    expect(row.get_by_role("button", name="Resume")).to_be_visible()
    assert Function.objects.get(function_id="e2e-pausable").paused

    held = run_of_event(server.send("e2e/pausable", {"effects": str(effects)}), "e2e-pausable")
    # A run of another function sent after it completes: the worker has looked, and left the paused one queued.
    run_of_event(server.send("e2e/echo", {"n": 1}), "e2e-echo", {RunStatus.COMPLETED})
    held.refresh_from_db()
    assert held.status == RunStatus.QUEUED and held.started_at is None and not effects.exists()

    page.reload()  # Functions: the badge and Resume come from the server too
    expect(row.locator(".paused-badge")).to_be_visible()
    page.screenshot(path=str(DOCS / "functions-paused.png"))
    page.goto(f"{server.url}/runs/?function=e2e-pausable")
    expect(page.locator(f"tr[data-run-id='{held.id}'] .paused-badge")).to_be_visible()
    page.goto(f"{server.url}/runs/{held.id}/")
    expect(page.locator(".run-head h1 .paused-badge")).to_be_visible()
    page.goto(f"{server.url}/apps/")
    expect(page.locator("tr[data-function-id='e2e-pausable'] .paused-badge")).to_be_visible()
    expect(page.locator("tr[data-function-id='e2e-echo'] .paused-badge")).to_have_count(0)

    page.goto(f"{server.url}/functions/")
    row.get_by_role("button", name="Resume").click()
    expect(dialog).to_be_visible()
    assert "1 queued run" in dialog.inner_text()
    dialog.locator(".dlg-confirm").click()
    expect(page.locator("#action-outcome")).to_contain_text("Resumed e2e-pausable")
    expect(row.locator(".paused-badge")).to_have_count(0)
    done = run_of_event(held.event_id, "e2e-pausable", TERMINAL)
    assert done.status == RunStatus.COMPLETED and effects_of(effects) == Counter(work=1)
    actions = list(OperatorAction.objects.order_by("id").values_list("action", "username"))
    assert actions == [("pause_function", "e2e-operator"), ("resume_function", "e2e-operator")]
