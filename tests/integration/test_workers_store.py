"""The workers table (issue 11 item 13): registration, the heartbeat's UPDATE, clean stop, dead workers and the
runs they held; GET /api/workers (login or token, ?all=1); the in-process worker writes its own row.
Runs on PostgreSQL and SQLite (the DATABASE_URL of the test run)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from runs import testing
from runs.models import Run, WorkerProcess
from runs.status import RunStatus
from runs.store import tokens
from runs.store import workers as worker_store
from tests.benchmarks.trees import run_row
from tests.integration.processes import wait_until

pytestmark = pytest.mark.django_db


def _register(name: str, apps: tuple[str, ...] = ("tree-app",)) -> None:
    worker_store.register(name, host="h1", pid=42, threads=3, app_ids=list(apps))


def _age(name: str, seconds: float) -> None:
    """Move a worker's heartbeat into the past, as if it had stopped beating then."""
    WorkerProcess.objects.filter(id=name).update(last_heartbeat=timezone.now() - timedelta(seconds=seconds))


def test_a_registered_worker_is_live_with_its_facts() -> None:
    _register("h1:42:abc")
    [info] = worker_store.list_workers()
    assert (info.id, info.host, info.pid, info.threads, info.apps, info.state) == (
        "h1:42:abc", "h1", 42, 3, ["tree-app"], "live")
    assert info.in_flight == 0 and info.runs_done == 0 and info.died_at is None


def test_a_beat_is_one_statement_and_records_counts_and_claim_lag() -> None:
    _register("h1:42:abc")
    due = timezone.now() - timedelta(seconds=30)
    Run.objects.bulk_create([run_row("due1", status=RunStatus.QUEUED, ready_at=due, started_at=None,
                                     ended_at=None)])
    with CaptureQueriesContext(connection) as queries:
        assert worker_store.beat("h1:42:abc", app_ids=["tree-app"], runs_done=7, held_run_ids=["a", "b"])
    assert len(queries) == 1, [q["sql"] for q in queries]
    [info] = worker_store.list_workers()
    assert info.runs_done == 7 and info.in_flight == 2
    assert info.claim_lag_seconds is not None and 29 < info.claim_lag_seconds < 60


def test_a_beat_of_an_unknown_worker_says_so() -> None:
    assert not worker_store.beat("nobody:1:x", app_ids=[], runs_done=0, held_run_ids=[])


def test_a_worker_silent_for_two_leases_is_dead_with_the_runs_it_held(settings: Any) -> None:
    settings.RUNS_LEASE_SECONDS = 10
    _register("h1:42:dead")
    _register("h2:43:other")
    Run.objects.bulk_create([
        run_row("held1", status=RunStatus.RUNNING, lease_owner="h1:42:dead:tok1", ended_at=None),
        run_row("back1", status=RunStatus.RUNNING, lease_owner="h2:43:other:tok2", ended_at=None),
        run_row("done1"),
    ])
    worker_store.beat("h1:42:dead", app_ids=["tree-app"], runs_done=1, held_run_ids=["held1", "back1", "done1"])
    _age("h1:42:dead", 19)
    assert [info.state for info in worker_store.list_workers()] == ["live", "live"]
    _age("h1:42:dead", 21)
    assert [info.id for info in worker_store.list_workers()] == ["h2:43:other"]
    dead = next(info for info in worker_store.list_workers(include_gone=True) if info.state == "dead")
    assert dead.died_at == WorkerProcess.objects.get(id="h1:42:dead").last_heartbeat
    held = {run.id: (run.back, run.status, run.now_owner) for run in dead.held}
    assert held == {"held1": (False, "running", ""), "back1": (True, "running", "h2:43:other"),
                    "done1": (True, "completed", "")}


def test_a_cleanly_stopped_worker_is_stopped_not_dead() -> None:
    _register("h1:42:stop")
    worker_store.mark_stopped("h1:42:stop", runs_done=5)
    _age("h1:42:stop", 3600)
    assert worker_store.list_workers() == []
    [info] = worker_store.list_workers(include_gone=True)
    assert info.state == "stopped" and info.stopped_at is not None and info.runs_done == 5 and info.died_at is None


@pytest.fixture
def operator(db: None) -> Any:
    return get_user_model().objects.create_user("operator", password="pw")


def test_api_workers_lists_live_ones_and_all_adds_dead_ones(client: Client, operator: Any) -> None:
    _register("h1:42:live")
    _register("h1:42:dead")
    _age("h1:42:dead", 3600)
    assert client.get("/api/workers").status_code in (302, 401, 403)  # anonymous: refused
    _, key = tokens.issue(operator, expires_in=None)
    live = client.get("/api/workers", headers={"Authorization": f"Bearer {key}"}).json()["workers"]
    assert [w["id"] for w in live] == ["h1:42:live"]
    assert {"id", "host", "pid", "threads", "started_at", "last_heartbeat", "in_flight", "runs_done",
            "apps"} <= set(live[0])
    client.force_login(operator)
    everyone = client.get("/api/workers?all=1").json()["workers"]
    assert [(w["id"], w["state"]) for w in everyone] == [("h1:42:live", "live"), ("h1:42:dead", "dead")]
    assert everyone[1]["died_at"] and everyone[1]["held_runs"] == []
    bad = client.get("/api/workers?all=maybe")
    assert bad.status_code == 400 and "all" in bad.json()["error"]


def test_workers_page_lists_live_and_dead(client: Client, operator: Any) -> None:
    _register("h1:42:live")
    _register("h1:42:gone")
    Run.objects.bulk_create([run_row("held9", status=RunStatus.RUNNING, lease_owner="h1:42:gone:t",
                                     ended_at=None)])
    worker_store.beat("h1:42:gone", app_ids=["tree-app"], runs_done=0, held_run_ids=["held9"])
    _age("h1:42:gone", 3600)
    client.force_login(operator)
    page = client.get("/workers/").content.decode()
    assert "h1:42:live" in page and "h1:42:gone" in page and "/runs/held9/" in page and "still leased" in page


@pytest.mark.django_db(transaction=True)
def test_an_in_process_worker_registers_beats_and_marks_itself_stopped(fast_retries: Any) -> None:
    fast_retries.RUNS_LEASE_SECONDS = 0.6
    with testing.worker() as running:
        wait_until(lambda: WorkerProcess.objects.filter(id=running.name, stopped_at__isnull=True).exists(), 10,
                   "the worker never registered")
        first = WorkerProcess.objects.get(id=running.name).last_heartbeat
        wait_until(lambda: WorkerProcess.objects.get(id=running.name).last_heartbeat > first, 10,
                   "the worker never beat")
    row = WorkerProcess.objects.get(id=running.name)
    assert row.stopped_at is not None and row.threads == running.threads
