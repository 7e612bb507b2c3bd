"""Issue 11 items 3-5 below the browser (tests/e2e/test_facts_e2e.py has them in Chromium): the poll that brings
other processes' commits to embedded mode's sockets, 404s in the app's layout (JSON for programs), unknown
filter values kept visible, and the run page's statement of cancelled steps, invoke timeouts and legend."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db.models import F
from django.test import Client
from django.utils import timezone

from dashboard import live_poll, pages
from runs import client as runs_client
from runs.domain import StepInfo
from runs.durations import ONE_YEAR
from runs.models import Run
from runs.status import RunStatus, StepKind, StepStatus
from runs.store.functions import sync_functions
from tests.integration import live_functions

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def browser(client: Client) -> Client:
    client.force_login(get_user_model().objects.create_user("reader", password="pw"))
    return client


@pytest.fixture
def echo_runs() -> list[str]:
    sync_functions(live_functions.app.functions.values())
    return [Run.objects.get(event_id=runs_client.send(live_functions.ECHO_EVENT, {"n": n})).id for n in range(3)]


def bump(run_id: str, status: str) -> None:
    """What another process's commit does to a run: a new status, the next version."""
    Run.objects.filter(id=run_id).update(status=status, version=F("version") + 1)


# --- item 3: the poll ------------------------------------------------------------------------------------
def test_the_poll_announces_other_processes_changes_once_and_not_this_processs(echo_runs: list[str]) -> None:
    poller = live_poll.ChangePoller()
    assert poller.poll() == []  # the first look learns what is there: the pages loaded it themselves
    assert poller.poll() == []

    bump(echo_runs[0], RunStatus.CANCELLED)
    deltas = poller.poll()
    assert [(d["id"], d["status"], d["version"]) for d in deltas] == [(echo_runs[0], "cancelled", 2)]
    assert set(deltas[0]) >= {"id", "root_run_id", "parent_run_id", "app_id", "function_id", "status", "version", "ts"}
    assert poller.poll() == []  # announced once

    bump(echo_runs[1], RunStatus.RUNNING)
    poller.saw({"id": echo_runs[1], "status": RunStatus.RUNNING, "version": 2})  # this process announced it
    assert poller.poll() == []

    new = Run.objects.get(event_id=runs_client.send(live_functions.ECHO_EVENT, {"n": 9})).id
    assert [d["id"] for d in poller.poll()] == [new]


def test_a_primed_poll_announces_what_changed_after_the_first_socket_opened(echo_runs: list[str]) -> None:
    poller = live_poll.ChangePoller()
    poller.prime()  # the first socket, before its "hello"
    poller.prime()  # later sockets: the first look is not taken again
    bump(echo_runs[0], RunStatus.CANCELLED)
    assert [(d["id"], d["status"]) for d in poller.poll()] == [(echo_runs[0], "cancelled")]


def test_an_old_run_made_active_again_by_another_process_is_found_by_the_reconcile(echo_runs: list[str]) -> None:
    old = timezone.now() - timedelta(days=1)
    Run.objects.filter(id=echo_runs[2]).update(status=RunStatus.FAILED, created_at=old)
    poller = live_poll.ChangePoller()
    poller.poll()
    bump(echo_runs[2], RunStatus.QUEUED)  # a retry from another process: failed -> queued
    found = []
    for _ in range(live_poll.RECONCILE_EVERY):
        found += poller.poll()
    assert [(d["id"], d["status"]) for d in found] == [(echo_runs[2], "queued")]


def test_sockets_start_the_poll_only_with_the_in_memory_layer(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    import asyncio

    from dashboard import live

    started: list[Any] = []
    monkeypatch.setattr(live_poll, "ensure_polling", lambda listening, publish: started.append(listening))
    monkeypatch.setattr(live, "_home_loop", None)
    loop = asyncio.new_event_loop()
    try:
        live.attach_loop(loop)
        assert len(started) == 1 and started[0]() is False  # no socket open yet
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer"}}
        live.attach_loop(loop)
        assert len(started) == 1  # Redis carries every process's deltas already
    finally:
        loop.close()


# --- item 5: 404s ---------------------------------------------------------------------------------------
def test_a_missing_run_and_an_unknown_page_are_404s_in_the_layout(browser: Client) -> None:
    response = browser.get("/runs/01NOSUCHRUN/")
    html = response.content.decode()
    assert response.status_code == 404 and "Run not found" in html and "01NOSUCHRUN" in html
    assert '<nav>' in html and 'href="/runs/"' in html
    response = browser.get("/no/such/page/")
    assert response.status_code == 404 and "Page not found" in response.content.decode()
    assert '<nav>' in response.content.decode()


@pytest.mark.parametrize("path", ["/api/nothing", "/api/runs/01NOSUCHRUN", "/fn/nothing", "/v1/nothing"])
def test_programs_keep_json_404s(browser: Client, path: str) -> None:
    response = browser.get(path)
    assert response.status_code == 404 and response["Content-Type"].startswith("application/json"), path
    assert "error" in response.json()


def test_a_stranger_gets_the_layout_without_navigation(client: Client) -> None:
    response = client.get("/no/such/page/")
    assert response.status_code == 404 and "Page not found" in response.content.decode()
    assert "<nav>" not in response.content.decode()


def test_an_unknown_filter_value_stays_selected_and_clearable(browser: Client) -> None:
    html = browser.get("/runs/", {"function": "zzz", "app": "nope"}).content.decode()
    assert '<option value="zzz" selected>zzz (not a known function)</option>' in html
    assert '<option value="nope" selected>nope (not a known app)</option>' in html
    assert 'class="clear"' in html


# --- items 4 and 5: steps as the run page states them --------------------------------------------------------
def step(kind: str, status: str, error: dict[str, Any] | None = None, **times: Any) -> StepInfo:
    return StepInfo(step_id="s", kind=kind, status=status, output=None, error=error, attempts=1, child_run_id=None,
                    started_at=times.get("started_at"), ended_at=times.get("ended_at"),
                    deadline=times.get("deadline"))


def test_a_step_ended_by_a_cancel_is_shown_cancelled_and_a_failure_stays_failed() -> None:
    cancelled = {"name": "Cancelled", "message": "the run was cancelled", "type": "InvokeCancelledError"}
    assert pages.shown_step_status(step(StepKind.SLEEP, StepStatus.FAILED, cancelled)) == "cancelled"
    assert pages.shown_step_status(step(StepKind.INVOKE, StepStatus.FAILED, cancelled)) == "cancelled"
    failed = {"name": "KeyError", "message": "'n'", "type": "KeyError"}
    assert pages.shown_step_status(step(StepKind.RUN, StepStatus.FAILED, failed)) == StepStatus.FAILED
    assert pages.shown_step_status(step(StepKind.RUN, StepStatus.COMPLETED)) == StepStatus.COMPLETED


def test_an_invoke_states_its_timeout_and_its_time_from_the_invoke() -> None:
    start = timezone.now() - timedelta(seconds=10)
    invoke = step(StepKind.INVOKE, StepStatus.FAILED, {"name": "InvokeTimeoutError", "message": "", "type": "x"},
                  started_at=start, ended_at=start + timedelta(seconds=2), deadline=start + timedelta(seconds=2))
    run = Run(id="R", started_at=start, created_at=start, ended_at=start + timedelta(seconds=2))
    info = dataclasses.replace(pages.reads.run_info(run, []), steps=[invoke])
    bars, _ = pages.waterfall(info, {})
    assert bars[0].timeout_ms == 2000 and bars[0].total_ms == 2000
    no_timeout = dataclasses.replace(invoke, deadline=start + ONE_YEAR + timedelta(milliseconds=3))
    bars, _ = pages.waterfall(dataclasses.replace(info, steps=[no_timeout]), {})
    assert bars[0].timeout_ms is None  # an invoke without `timeout` states none (the store's default is a year)


def test_the_legend_names_exactly_the_colours_the_bars_show() -> None:
    def bar(status: str, waiting: float, executing: float) -> pages.WaterfallBar:
        return pages.WaterfallBar(step=step(StepKind.RUN, status), offset_pct=0, width_pct=1, wait_share_pct=0,
                                  waiting_ms=waiting, executing_ms=executing, status=status)

    assert pages.legend_keys([bar("completed", 0, 5), bar("failed", 1, 5)]) == [
        ("wait", "waiting"), ("completed", "completed"), ("failed", "failed")]
    assert pages.legend_keys([bar("waiting", 3, 0), bar("cancelled", 7, 0)]) == [
        ("wait", "waiting"), ("cancelled", "cancelled")]
    assert pages.legend_keys([bar("cancelled", 7, 0)]) == [("cancelled", "cancelled")]  # grey as a whole
    assert pages.legend_keys([bar("waiting", 0, 4)]) == [("exec", "executing")]
