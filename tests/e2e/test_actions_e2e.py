"""Operator actions in real Chromium against a live `manage.py serve` (issue 5, Must show 2 and 3).

O3: Cancel ▾ with descendants on a run with an active subtree: the confirm counts the runs, and the run and its
subtree turn cancelled on the open page without a reload; the run started by its send_event is left alone (O1b).
O5: Retry ▾ root cause on a failed chain's leaf after a fix (a flag file the serve process reads): the confirm
names the root cause and the chain, and the chain turns green live; earlier completed steps are not run again.
O6: a user without runs.operate_run sees no action buttons and gets 403 from the API; every action above is in
the audit trail (OperatorAction rows) and on the Audit page. Bulk: preview count, confirm, outcome, audit row.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page

from runs.models import OperatorAction, Run, Step
from runs.status import RunStatus
from tests.e2e.conftest import ROOT, LiveServer, log_in, run_of_event, wait_for
from tests.e2e.e2e_functions import FIX_ERROR

pytestmark = pytest.mark.django_db(transaction=True)  # the server (another process) must see committed rows

TERMINAL = {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED}
SCREENS = ROOT / "var" / "e2e-screens"


def graph_ready(page: Page) -> None:
    page.wait_for_selector("#graph[data-ready]", state="attached", timeout=15000)
    page.wait_for_selector("#live-badge.live", timeout=10000)


def wait_graph_statuses(page: Page, ids: list[str], status: str, timeout: float = 15000) -> None:
    page.wait_for_function(
        "([ids, status]) => ids.every(id => { const n = window.tributaryCy.getElementById(id);"
        " return n.nonempty() && n.data('status') === status; })", arg=[ids, status], timeout=timeout)


def held_tree(server: LiveServer) -> tuple[Run, list[str], Run, str]:
    """e2e-hold-root -> (e2e-hold-branch -> e2e-hold-leaf, e2e-hold-leaf), all waiting; plus the run its
    send_event started (another tree)."""
    token = uuid.uuid4().hex
    root = run_of_event(server.send("e2e/hold", {"token": token}), "e2e-hold-root")

    def all_waiting() -> list[str] | None:
        ids = list(Run.objects.filter(root_run_id=root.id, status=RunStatus.WAITING).values_list("id", flat=True))
        return ids if len(ids) == 4 else None

    subtree = wait_for(all_waiting, "the hold tree: 4 runs waiting")
    side = wait_for(lambda: Run.objects.filter(triggered_by_run_id=root.id, status=RunStatus.WAITING).first(),
                    "the run started by the root's send_event, waiting")
    return Run.objects.get(id=root.id), subtree, side, token


# O3 O6
def test_o3_cancel_with_descendants_turns_the_subtree_cancelled_live(operator_page: Page,
                                                                    live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    root, subtree, side, token = held_tree(server)

    page.goto(f"{server.url}/runs/{root.id}/")
    graph_ready(page)
    page.evaluate("() => { window.__stillTheSamePage = true; }")
    assert page.locator("#retry-menu").count() == 0  # an active run offers Cancel, not Retry
    page.click("#cancel-menu summary")
    assert page.locator("#cancel-menu [data-cascade=true]").is_visible()
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / "run-page-cancel-menu.png"))
    page.click("#cancel-menu [data-cascade=true]")

    dialog = page.locator("#action-dialog")
    dialog.wait_for(state="visible")
    assert "4 runs will be cancelled" in dialog.inner_text()  # the number of runs affected, before acting
    assert Run.objects.filter(id__in=subtree, status=RunStatus.WAITING).count() == 4  # nothing done yet
    page.screenshot(path=str(SCREENS / "run-page-cancel-confirm.png"))
    dialog.locator(".dlg-confirm").click()

    wait_graph_statuses(page, subtree, "cancelled")  # live: the socket's deltas, no reload
    page.wait_for_function("() => document.querySelector('.run-head .badge').dataset.status === 'cancelled'")
    assert "Cancelled 4 runs" in page.locator("#action-outcome").inner_text()
    assert page.evaluate("() => window.__stillTheSamePage") is True
    assert set(Run.objects.filter(id__in=subtree).values_list("status", flat=True)) == {RunStatus.CANCELLED}
    side.refresh_from_db()
    assert side.status == RunStatus.WAITING  # O1b: send_event's run is another tree
    assert page.evaluate("id => window.tributaryCy.getElementById(id).data('status')", side.id) == "waiting"

    # O6: the audit record, on the run page (refreshed live, the Cancel menu gone) and on the Audit page.
    entry = OperatorAction.objects.get(action="cancel_cascade")
    assert (entry.username, entry.outcome) == ("e2e-operator", "done")
    assert sorted(entry.run_ids) == sorted(subtree)
    page.wait_for_selector("#run-audit tr.audit-entry[data-action=cancel_cascade]")
    assert "e2e-operator" in page.locator("#run-audit").inner_text()
    assert page.locator("#cancel-menu").count() == 0
    assert page.locator("#retry-menu [data-mode=from_start]").count() == 1  # finished: rerun from start only
    page.goto(f"{server.url}/audit/")
    row = page.locator(f"#action-{entry.id}")
    assert "Cancel with descendants" in row.inner_text() and "e2e-operator" in row.inner_text()
    assert row.locator(f"a[href='/runs/{root.id}/']").count() == 1

    server.send("e2e/release", {"token": token})  # let the side run finish
    run_of_event(side.event_id, "e2e-hold-side", TERMINAL)


# O5 O6
def test_o5_retry_root_cause_on_the_leaf_turns_the_chain_green_live(operator_page: Page, tmp_path: Path,
                                                                   live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    flag, effects = tmp_path / "fixed", tmp_path / "effects.log"
    event_id = server.send("e2e/fix-chain", {"flag": str(flag), "effects": str(effects)})
    top = run_of_event(event_id, "e2e-fix-top", TERMINAL)
    assert top.status == RunStatus.FAILED
    middle = Run.objects.get(id=top.failure_cause_run_id)
    leaf = Run.objects.get(id=middle.failure_cause_run_id)
    assert leaf.function_id == "e2e-fix-leaf" and FIX_ERROR in json.dumps(leaf.error)
    chain = [leaf.id, middle.id, top.id]

    flag.write_text("fixed")  # the fix is deployed
    page.goto(f"{server.url}/runs/{leaf.id}/")
    graph_ready(page)
    wait_graph_statuses(page, chain, "failed")
    page.evaluate("() => { window.__stillTheSamePage = true; }")
    assert page.locator("#cancel-menu").count() == 0  # a failed run offers Retry, not Cancel
    page.click("#retry-menu summary")
    modes = page.locator("#retry-menu [data-mode]").evaluate_all("els => els.map(e => e.dataset.mode)")
    assert modes == ["from_failure", "from_start", "root_cause"]
    page.screenshot(path=str(SCREENS / "run-page-retry-menu.png"))
    page.click("#retry-menu [data-mode=root_cause]")

    dialog = page.locator("#action-dialog")
    dialog.wait_for(state="visible")
    text = dialog.inner_text()
    assert "e2e-fix-leaf" in text and "root cause" in text
    items = dialog.locator(".dlg-list li").all_inner_texts()
    assert [item.split(" ")[0] for item in items] == ["e2e-fix-leaf", "e2e-fix-middle", "e2e-fix-top"], items
    page.screenshot(path=str(SCREENS / "run-page-root-cause-confirm.png"))
    dialog.locator(".dlg-confirm").click()

    wait_graph_statuses(page, chain, "completed")  # the whole chain turns green on the open page
    page.wait_for_function("() => document.querySelector('.run-head .badge').dataset.status === 'completed'")
    assert page.evaluate("() => window.__stillTheSamePage") is True
    assert set(Run.objects.filter(id__in=chain).values_list("status", flat=True)) == {RunStatus.COMPLETED}
    top.refresh_from_db()
    assert top.output == {"leaf": "fixed"}
    assert Run.objects.filter(root_run_id=top.id).count() == 3  # no new child: the chain resumed in place
    # Completed steps anywhere in the chain were not executed again: each side effect happened once.
    assert sorted(effects.read_text().split()) == ["leaf-before", "middle-before", "top-before"]
    fixed_step = Step.objects.get(run_id=leaf.id, step_id="needs-fix")
    assert fixed_step.attempts == 2  # the failed attempt and the one after the fix, shown as history
    attempts = page.locator("#step-details details.step-detail", has_text="needs-fix")
    page.wait_for_function("() => [...document.querySelectorAll('#step-details details.step-detail')].some("
                           "d => d.textContent.includes('needs-fix') && d.textContent.includes('2 attempts'))")
    assert attempts.locator("table.attempts tbody tr").count() == 2  # the attempts history of the step
    page.wait_for_selector("#root-cause", state="detached")  # healed: no root cause panel any more

    entry = OperatorAction.objects.get(action="retry_root_cause")
    assert (entry.username, entry.outcome) == ("e2e-operator", "done")
    assert set(entry.run_ids) == set(chain)  # every run of the healed chain names the action
    page.wait_for_selector("#run-audit tr.audit-entry[data-action=retry_root_cause]")
    page.screenshot(path=str(SCREENS / "run-page-after-root-cause.png"), full_page=True)
    page.goto(f"{server.url}/runs/{top.id}/")
    assert "Retry root cause" in page.locator("#run-audit").inner_text()
    page.goto(f"{server.url}/audit/?action=retry_root_cause")
    assert page.locator("#audit-table tr.audit-entry").count() == 1
    assert "Retry root cause" in page.locator(f"#action-{entry.id}").inner_text()


# O6
def test_o6_without_the_permission_no_action_buttons_and_403(browser_context: BrowserContext,
                                                             e2e_rows: LiveServer) -> None:
    server = e2e_rows
    root, subtree, side, token = held_tree(server)
    failed = run_of_event(server.send("e2e/chain", {"n": 1}), "e2e-top", TERMINAL)
    page = browser_context.new_page()
    log_in(page, server, "e2e-viewer")

    for run in (root, failed):
        page.goto(f"{server.url}/runs/{run.id}/")
        graph_ready(page)
        assert page.locator("#run-actions, #cancel-menu, #retry-menu, #action-dialog").count() == 0
        assert page.locator("button:has-text('Cancel'), summary:has-text('Cancel'), summary:has-text('Retry')").count() == 0
    page.goto(f"{server.url}/runs/?function=e2e-hold-leaf")
    assert page.locator("#bulk-actions, [data-bulk]").count() == 0

    csrf = next(c["value"] for c in browser_context.cookies() if c["name"] == "csrftoken")
    headers = {"X-CSRFToken": csrf, "Content-Type": "application/json", "Referer": f"{server.url}/runs/"}
    for url, body in ((f"/api/runs/{root.id}/cancel", {"cascade": True}),
                      (f"/api/runs/{root.id}/cancel", {"cascade": True, "dry_run": True}),
                      (f"/api/runs/{failed.id}/retry", {"mode": "root_cause"}),
                      ("/api/runs/bulk", {"action": "cancel", "filters": {"function": "e2e-hold-leaf"}})):
        answer = page.request.post(f"{server.url}{url}", data=json.dumps(body), headers=headers)
        assert answer.status == 403, (url, answer.status, answer.text())
        assert "operate_run" in answer.json()["error"]
    assert Run.objects.filter(id__in=subtree, status=RunStatus.WAITING).count() == 4  # nothing changed
    assert not OperatorAction.objects.exists()
    page.goto(f"{server.url}/audit/")  # a viewer may read the trail
    assert "No operator actions yet" in page.locator("#audit-table").inner_text()

    server.send("e2e/release", {"token": token})
    run_of_event(side.event_id, "e2e-hold-side", TERMINAL)


# O6 bulk
def test_bulk_cancel_of_the_filtered_runs_previews_confirms_and_is_audited(operator_page: Page,
                                                                          live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    ids = [run_of_event(server.send("e2e/wait", {"token": uuid.uuid4().hex}), "e2e-waiter",
                        {RunStatus.WAITING}).id for _ in range(3)]
    page.goto(f"{server.url}/runs/?function=e2e-waiter&status=waiting")
    page.wait_for_selector("#live-badge.live")
    page.click("#bulk-actions [data-bulk=cancel]")
    dialog = page.locator("#action-dialog")
    dialog.wait_for(state="visible")
    assert "Cancel 3 runs?" in dialog.inner_text() and "function=e2e-waiter" in dialog.inner_text()
    page.screenshot(path=str(SCREENS / "runs-page-bulk-confirm.png"))
    dialog.locator(".dlg-confirm").click()
    page.wait_for_function("() => /Cancelled 3 of 3/.test(document.getElementById('action-outcome').textContent)")
    for run_id in ids:  # the rows follow live
        page.wait_for_function("id => document.querySelector(`tr[data-run-id='${id}']`).dataset.status === "
                               "'cancelled'", arg=run_id, timeout=10000)
    assert set(Run.objects.filter(id__in=ids).values_list("status", flat=True)) == {RunStatus.CANCELLED}

    entry = OperatorAction.objects.get(action="bulk_cancel")
    assert (entry.outcome, entry.total, entry.processed) == ("done", 3, 3)
    assert entry.filters == {"function": "e2e-waiter", "status": "waiting"}
    assert sorted(entry.run_ids) == sorted(ids)  # which runs it acted on
    page.goto(f"{server.url}/audit/")
    row = page.locator(f"#action-{entry.id}")
    assert "Bulk cancel" in row.inner_text() and "3/3" in row.inner_text()
    assert "function=e2e-waiter" in row.inner_text()
    assert row.locator("td.runs a").count() == 3
    page.screenshot(path=str(SCREENS / "audit-page.png"))
