"""Acting on waiting runs and bulk by selection, in real Chromium against a live `manage.py serve` (issue 11
items 10 and 8).

Item 10: on a run's waiting step, "Wake now" ends a sleep; "Send event…" opens a form with the event's name and
data prefilled from the step's match and sends it through the ordinary intake, which resolves the wait; "Fail the
invoke" fails the parent with a StepError while the child goes on; "Cancel the invoke" cancels the child and the
parent gets InvokeCancelledError. Each is audited and shows live on the open page.
Item 8: checkboxes on the runs list (and select-all), kept through live row updates; "Cancel selected…" previews
the run ids it will touch (only those it can act on) and cancels exactly them.
"""

from __future__ import annotations

import json
import uuid

import pytest
from playwright.sync_api import Page, expect

from runs.models import OperatorAction, Run, Step
from runs.status import RunStatus, StepStatus
from tests.e2e.conftest import ROOT, LiveServer, run_of_event, wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # the server (another process) must see committed rows

TERMINAL = {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED}
SCREENS = ROOT / "var" / "e2e-screens"


def waiting_on(server: LiveServer, event: str, function_id: str, step_id: str,
               data: dict | None = None) -> Run:
    run = run_of_event(server.send(event, data or {}), function_id)
    wait_for(lambda: Step.objects.filter(run_id=run.id, step_id=step_id, status=StepStatus.WAITING).exists()
             and Run.objects.get(id=run.id).status == RunStatus.WAITING, f"{function_id} waiting on {step_id}")
    return Run.objects.get(id=run.id)


def open_run(page: Page, server: LiveServer, run_id: str) -> None:
    page.goto(f"{server.url}/runs/{run_id}/")
    page.wait_for_selector("#live-badge.live", timeout=10000)


def head_status(page: Page) -> str:
    return page.locator("#run-head h1 .badge").get_attribute("data-status") or ""


def confirm(page: Page) -> str:
    dialog = page.locator("#action-dialog")
    dialog.wait_for(state="visible")
    text = dialog.inner_text()
    dialog.locator(".dlg-confirm").click()
    return text


# Item 10: wake a sleep now
def test_wake_now_ends_the_sleep_and_the_run_completes_live(operator_page: Page,
                                                            live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    run = waiting_on(server, "e2e/nap", "e2e-napper", "nap")
    open_run(page, server, run.id)
    actions = page.locator("#step-details .wait-actions[data-step-id='nap']")
    expect(actions).to_be_visible()  # the waiting step's details are open, its actions in view
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / "run-page-wake.png"))
    actions.locator("[data-wait-action=wake]").click()
    assert "ends at once" in confirm(page)

    expect(page.locator("#run-head h1 .badge")).to_have_attribute("data-status", "completed", timeout=15000)
    assert Run.objects.get(id=run.id).output == "awake"
    entry = OperatorAction.objects.get(action="wake")
    assert (entry.username, entry.run_ids, entry.outcome) == ("e2e-operator", [run.id], "done")
    expect(page.locator("#run-audit tr.audit-entry[data-action=wake]")).to_have_count(1)
    expect(page.locator("#step-details .wait-actions")).to_have_count(0)  # nothing waits any more


# Item 10: send the event a wait_for_event waits for, prefilled
def test_send_event_is_prefilled_from_the_match_and_resolves_the_wait(operator_page: Page,
                                                                       live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    order = uuid.uuid4().hex
    run = waiting_on(server, "e2e/order-wait", "e2e-order-waiter", "paid", {"order": {"id": order}})
    other = waiting_on(server, "e2e/order-wait", "e2e-order-waiter", "paid", {"order": {"id": "someone-else"}})
    open_run(page, server, run.id)
    page.locator("#step-details .wait-actions[data-step-id='paid'] [data-wait-action=send_event]").click()
    dialog = page.locator("#send-event-dialog")
    expect(dialog).to_be_visible()
    assert dialog.locator("input[name=name]").input_value() == "e2e/paid"
    prefilled = json.loads(dialog.locator("textarea[name=data]").input_value())
    assert prefilled == {"order": {"id": order}}
    assert "data.order.id" in dialog.locator(".sed-what").inner_text()
    page.screenshot(path=str(SCREENS / "run-page-send-event.png"))
    dialog.locator("textarea[name=data]").fill("{not json")
    dialog.locator(".sed-send").click()
    expect(dialog.locator(".sed-note")).to_contain_text("Not sent: data is not JSON")  # kept on the page, as typed
    expect(dialog).to_be_visible()
    dialog.locator("textarea[name=data]").fill(json.dumps({"order": {"id": order}, "amount": 12}))
    dialog.locator(".sed-send").click()

    page.wait_for_url(f"{server.url}/runs/{run.id}/")  # back on the run, which the event resumed
    expect(page.locator("ul.messages")).to_contain_text("Sent e2e/paid")
    done = run_of_event(run.event_id, "e2e-order-waiter", TERMINAL)
    assert done.status == RunStatus.COMPLETED and done.output == {"paid": {"order": {"id": order}, "amount": 12}}
    assert Run.objects.get(id=other.id).status == RunStatus.WAITING  # the match told them apart
    entry = OperatorAction.objects.get(action="send_event")
    assert entry.run_ids == [run.id] and "e2e/paid" in entry.detail


# Item 10: fail or cancel an invoke wait
def test_fail_and_cancel_an_invoke_wait(operator_page: Page, live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    failing = waiting_on(server, "e2e/invoke-wait", "e2e-invoker", "call-slow")
    child = Step.objects.get(run_id=failing.id, step_id="call-slow").child_run_id
    open_run(page, server, failing.id)
    page.locator("#step-details .wait-actions[data-step-id='call-slow'] [data-wait-action=fail_invoke]").click()
    assert "StepError" in confirm(page)
    expect(page.locator("#run-head h1 .badge")).to_have_attribute("data-status", "failed", timeout=15000)
    failed = Run.objects.get(id=failing.id)
    assert failed.error["message"].startswith("failed by operator e2e-operator")
    assert failed.failure_cause_run_id is None  # the operator's decision: this run is its own root cause
    assert Run.objects.get(id=child).status == RunStatus.WAITING  # the invoked run goes on
    expect(page.locator("#root-cause")).to_contain_text("failed by operator")

    cancelling = waiting_on(server, "e2e/invoke-wait", "e2e-invoker", "call-slow")
    child2 = Step.objects.get(run_id=cancelling.id, step_id="call-slow").child_run_id
    open_run(page, server, cancelling.id)
    page.locator("#step-details .wait-actions[data-step-id='call-slow'] [data-wait-action=cancel_invoke]").click()
    assert "1 run will be cancelled" in confirm(page)
    expect(page.locator("#run-head h1 .badge")).to_have_attribute("data-status", "failed", timeout=15000)
    assert Run.objects.get(id=child2).status == RunStatus.CANCELLED
    assert Run.objects.get(id=cancelling.id).error["type"] == "InvokeCancelledError"
    entries = {e.action: e for e in OperatorAction.objects.all()}
    assert entries["fail_invoke"].run_ids == [failing.id]
    assert entries["cancel_invoke"].run_ids == [cancelling.id, child2]
    Run.objects.filter(id=child).update(status=RunStatus.CANCELLED)  # nothing left sleeping for the next test


# Item 8: bulk by selection, checkboxes kept through live updates
def test_bulk_cancel_by_selection_keeps_the_selection_live_and_previews_the_ids(
        operator_page: Page, live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    runs = [waiting_on(server, "e2e/nap", "e2e-napper", "nap") for _ in range(4)]
    woken, kept, also_kept, unselected = (run.id for run in runs)
    page.goto(f"{server.url}/runs/?function=e2e-napper&root_only=1")
    page.wait_for_selector("#live-badge.live", timeout=10000)
    row = lambda run_id: page.locator(f"#runs-table tr[data-run-id='{run_id}']")  # noqa: E731
    box = lambda run_id: row(run_id).locator("input.select-run")  # noqa: E731

    page.locator("#select-all").check()  # select-all on the page, then narrow it down
    expect(page.locator("#selected-count")).to_have_text("4")
    box(unselected).uncheck()
    expect(page.locator("#selected-count")).to_have_text("3")
    assert page.locator("#select-all").evaluate("el => el.indeterminate") is True

    # A selected row changes (its run completes): the server renders it again, still checked.
    page.evaluate("id => { document.querySelector(`tr[data-run-id='${id}']`).dataset.old = '1'; }", woken)
    page.evaluate("id => window.Tributary.post(`/api/runs/${id}/wake`, {})", woken)
    page.wait_for_function("id => { const tr = document.querySelector(`tr[data-run-id='${id}']`);"
                           " return tr && !tr.dataset.old && tr.dataset.status === 'completed'; }", arg=woken,
                           timeout=15000)
    expect(box(woken)).to_be_checked()
    # A new run joins the page live, unchecked; the selection stays as it was.
    newcomer = run_of_event(server.send("e2e/nap"), "e2e-napper")
    expect(row(newcomer.id)).to_be_visible(timeout=15000)
    expect(box(newcomer.id)).not_to_be_checked()
    for run_id in (woken, kept, also_kept):
        expect(box(run_id)).to_be_checked()
    expect(page.locator("#selected-count")).to_have_text("3")

    page.locator("[data-bulk-selected=cancel]").click()
    dialog = page.locator("#action-dialog")
    dialog.wait_for(state="visible")
    listed = dialog.locator(".dlg-list li").all_inner_texts()
    assert sorted(listed) == sorted([kept, also_kept])  # the completed one cannot be cancelled: not listed
    assert "2 of the 3 selected runs" in dialog.inner_text()
    page.screenshot(path=str(SCREENS / "runs-page-bulk-selected.png"))
    dialog.locator(".dlg-confirm").click()
    expect(page.locator("#action-outcome")).to_contain_text("Cancelled 2 of 3 selected runs")

    wait_for(lambda: {r.id: r.status for r in Run.objects.filter(id__in=[kept, also_kept])}
             == {kept: RunStatus.CANCELLED, also_kept: RunStatus.CANCELLED}, "the selected runs cancelled")
    assert Run.objects.get(id=unselected).status == RunStatus.WAITING
    assert Run.objects.get(id=newcomer.id).status == RunStatus.WAITING
    entry = OperatorAction.objects.get(action="bulk_cancel")
    assert sorted(entry.run_ids) == sorted([kept, also_kept]) and entry.outcome == "done"
    expect(row(kept).locator("td.status .badge")).to_have_attribute("data-status", "cancelled", timeout=15000)
    Run.objects.filter(id__in=[unselected, newcomer.id]).update(status=RunStatus.CANCELLED)
