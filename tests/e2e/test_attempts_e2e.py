"""Issue 11 item 1 in real Chromium: a run after "Retry -> root cause" states true facts.

A chain (e2e-fix-top -> e2e-fix-middle -> e2e-fix-leaf) fails at the leaf; its rows are moved three minutes
into the past (it failed three minutes ago), the fix is deployed (a flag file the serve process reads) and the
operator retries the root cause from the top's page. Once the chain has healed, live on the open page: the top
shows its first attempt's own duration (milliseconds) beside the whole span (minutes), each attempt with its
start, duration, outcome and why it began; no "waiting on the retried root cause" reason any more; its invoke
step lists its failed first attempt and executes for milliseconds, not minutes; the Functions page's p50/p95
are milliseconds too. The screenshot of that run page is docs/root-cause-retry.png.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from runs.models import Run, Step
from runs.status import RunStatus
from tests.e2e.conftest import ROOT, LiveServer, run_of_event

pytestmark = pytest.mark.django_db(transaction=True)  # the server (another process) must see committed rows

TERMINAL = {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED}
AGO = timedelta(minutes=3)
MINUTES = re.compile(r"\d+(\.\d+)? (min|h|d)\b")
MILLIS_OR_SECONDS = re.compile(r"^(<1 ms|\d+ ms|\d+(\.\d+)? s)$")


def _shift(value: Any) -> Any:
    return (datetime.fromisoformat(value) - AGO).isoformat() if isinstance(value, str) and value else value


def failed_long_ago(run_ids: list[str]) -> None:
    """Every timestamp of the failed chain moved AGO into the past."""
    for run in Run.objects.filter(id__in=run_ids):
        Run.objects.filter(id=run.id).update(created_at=run.created_at - AGO, started_at=run.started_at - AGO,
                                             ended_at=run.ended_at - AGO)
    for step in Step.objects.filter(run_id__in=run_ids):
        history = [{key: _shift(value) if key.endswith("_at") else value for key, value in entry.items()}
                   for entry in step.history]
        Step.objects.filter(id=step.id).update(started_at=step.started_at - AGO, ended_at=step.ended_at - AGO,
                                               history=history)


def test_run_after_a_root_cause_retry_shows_each_attempt_and_true_durations(operator_page: Page, tmp_path: Path,
                                                                           live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    flag, effects = tmp_path / "fixed", tmp_path / "effects.log"
    top = run_of_event(server.send("e2e/fix-chain", {"flag": str(flag), "effects": str(effects)}), "e2e-fix-top",
                       TERMINAL)
    assert top.status == RunStatus.FAILED
    middle = Run.objects.get(id=top.failure_cause_run_id)
    leaf = Run.objects.get(id=middle.failure_cause_run_id)
    chain = [top.id, middle.id, leaf.id]
    failed_long_ago(chain)
    flag.write_text("fixed")  # the fix is deployed

    page.goto(f"{server.url}/runs/{top.id}/")
    page.wait_for_selector("#live-badge.live", timeout=10000)
    page.click("#retry-menu summary")
    page.click("#retry-menu [data-mode=root_cause]")
    page.locator("#action-dialog .dlg-confirm").click()

    # The chain heals on the open page; its head follows (live, no reload).
    page.wait_for_function("() => document.querySelector('.run-head .badge').dataset.status === 'completed'",
                           timeout=20000)
    page.wait_for_selector("#run-attempts tr[data-attempt='2'] .badge[data-status=completed]", timeout=10000)
    assert set(Run.objects.filter(id__in=chain).values_list("status", flat=True)) == {RunStatus.COMPLETED}

    head = page.locator("#run-head")
    first = head.locator(".took-first").inner_text()
    assert MILLIS_OR_SECONDS.match(first.removesuffix(" first attempt")), first  # its own duration
    assert MINUTES.search(head.locator(".took-total").inner_text())  # the whole span, between attempts included
    assert "waiting on the retried root cause" not in head.inner_text()  # that state has ended
    rows = head.locator("#run-attempts tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).locator(".badge").get_attribute("data-status") == "failed"
    assert MILLIS_OR_SECONDS.match(rows.nth(0).locator("td.took").inner_text()), rows.nth(0).inner_text()
    assert MILLIS_OR_SECONDS.match(rows.nth(1).locator("td.took").inner_text()), rows.nth(1).inner_text()
    assert "root cause" in rows.nth(1).inner_text()  # why the second attempt began

    # The invoke step: two attempts, the first failed with its child's error; milliseconds of execution.
    step_row = page.locator("#steps li.wf-row", has_text="call-fix-middle")
    facts = step_row.locator(".wf-facts").inner_text()
    assert "2 attempts" in facts, facts
    # An invoke states the time since the invoke; its title splits it: until the child started, and after.
    breakdown = step_row.locator("[title^='from the invoke']").get_attribute("title") or ""
    executing = breakdown.rsplit(",", 1)[-1]
    assert executing.endswith("after") and not MINUTES.search(executing), breakdown
    detail = page.locator("#step-details details.step-detail", has_text="call-fix-middle")
    assert "2 attempts" in detail.locator(":scope > summary").inner_text()
    attempts = detail.locator("table.attempts tbody tr")
    assert attempts.count() == 2
    assert [attempts.nth(i).locator(".badge").get_attribute("data-status") for i in range(2)] == ["failed",
                                                                                                 "completed"]
    assert middle.id[-10:] in attempts.nth(0).inner_text()  # the child it waited on, both times
    page.screenshot(path=str(ROOT / "docs" / "root-cause-retry.png"), full_page=True)

    # Functions: p50/p95 from each attempt's own duration, not minutes.
    page.goto(f"{server.url}/functions/")
    for function_id in ("e2e-fix-top", "e2e-fix-middle", "e2e-fix-leaf"):
        row = page.locator("table.functions tbody tr", has=page.locator(f"b:text-is('{function_id}')"))
        cells = row.locator("td.num").all_inner_texts()
        assert len(cells) == 2 and all(MILLIS_OR_SECONDS.match(cell) for cell in cells), (function_id, cells)
