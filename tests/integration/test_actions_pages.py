"""The pages of operator actions (issue 5), server-rendered: the run page's menus by status and permission, its
audit entries and rerun links both ways; the Audit page (login required, newest first, filters, progress)."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from runs import client, operations
from runs.models import OperatorAction, Run
from runs.sdk import App, Context
from runs.testing import wait_for_run

app = App("it-actions-pages")


@app.function(id="pg-sleeper", trigger="pages/sleep", retries=0)
async def sleeper(ctx: Context) -> None:
    await ctx.step.sleep("nap", "1h")


@app.function(id="pg-breaks", trigger="pages/break", retries=0)
async def breaks(ctx: Context) -> None:
    await ctx.step.run("explode", lambda: 1 / 0)


def login(allowed: bool) -> Client:
    user = User.objects.create_user("op" if allowed else "viewer", password="pw")
    if allowed:
        user.user_permissions.add(Permission.objects.get(codename="operate_run"))
    http = Client()
    http.force_login(user)
    return http


def started(name: str) -> str:
    [run] = client.runs_for_event(client.send(name))
    return run.id


@pytest.fixture
def failed_run(worker) -> str:  # type: ignore[no-untyped-def]
    run_id = started("pages/break")
    assert wait_for_run(run_id).status == "failed"
    return run_id


def test_run_page_menus_follow_status_and_permission(worker, failed_run: str) -> None:  # type: ignore[no-untyped-def]
    active = started("pages/sleep")
    deadline = time.monotonic() + 10
    while Run.objects.get(id=active).status != "waiting":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    operator, viewer = login(True), login(False)
    page = operator.get(f"/runs/{active}/").content.decode()
    assert 'id="cancel-menu"' in page and 'id="retry-menu"' not in page and "js/actions.js" in page
    page = operator.get(f"/runs/{failed_run}/").content.decode()
    assert 'id="retry-menu"' in page and 'id="cancel-menu"' not in page
    assert 'data-mode="root_cause"' in page and 'data-mode="from_failure"' in page
    for run_id in (active, failed_run):
        page = viewer.get(f"/runs/{run_id}/").content.decode()
        assert "run-actions" not in page and "action-dialog" not in page and "js/actions.js" not in page
    assert "bulk-actions" not in viewer.get("/runs/?function=pg-sleeper").content.decode()
    assert "bulk-actions" in operator.get("/runs/?function=pg-sleeper").content.decode()


def test_rerun_links_both_ways_and_audit_on_the_run_page(failed_run: str) -> None:
    http = login(True)
    rerun = operations.retry(failed_run, mode="from_start", actor="someone")
    original_page = http.get(f"/runs/{failed_run}/").content.decode()
    assert f"/runs/{rerun}/" in original_page and "reruns" in original_page
    assert "Rerun from start" in original_page and "someone" in original_page  # the audit panel
    rerun_page = http.get(f"/runs/{rerun}/").content.decode()
    assert "rerun of" in rerun_page and f"/runs/{failed_run}/" in rerun_page


def test_audit_page_lists_newest_first_with_filters_and_needs_login(failed_run: str) -> None:
    assert Client().get("/audit/").status_code == 302
    operations.retry(failed_run, mode="from_start", actor="first")
    operations.bulk("retry", {"function": "pg-nothing"}, actor="second")
    http = login(False)
    page = http.get("/audit/").content.decode()
    assert page.index('data-action="bulk_retry"') < page.index('data-action="retry_from_start"')  # newest first
    assert 'href="/audit/"' in page  # in the nav
    filtered = http.get("/audit/?user=first").content.decode()
    assert 'data-action="retry_from_start"' in filtered and 'data-action="bulk_retry"' not in filtered
    by_run = http.get(f"/audit/?run={failed_run}").content.decode()
    assert 'data-action="retry_from_start"' in by_run and 'data-action="bulk_retry"' not in by_run
    running = OperatorAction.objects.create(username="third", action="bulk_cancel", outcome="running", total=10,
                                            processed=4, filters={"function": "x"})
    page = http.get("/audit/").content.decode()
    assert f'id="action-{running.id}"' in page and "4/10" in page and 'http-equiv="refresh"' in page
