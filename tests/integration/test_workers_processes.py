"""Workers page facts from real `manage.py worker` subprocesses (issue 11 item 13): a worker SIGKILLed mid-run
shows as dead, died at its last heartbeat, with the run it held; once another worker finishes that run, the run
shows as back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from runs import client
from runs.sdk.app import all_functions
from runs.store.functions import sync_functions
from runs.testing import wait_for_run
from tests.integration import crash_functions
from tests.integration.effects import label_counts, release
from tests.integration.processes import LEASE_SECONDS, requires_postgres, wait_until, worker_fleet

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def _workers(api: Client, **query: str) -> list[dict[str, Any]]:
    response = api.get("/api/workers", query)
    assert response.status_code == 200, response.content
    return response.json()["workers"]


def _by_pid(api: Client, pid: int, **query: str) -> dict[str, Any] | None:
    return next((w for w in _workers(api, **query) if w["pid"] == pid), None)


def test_a_sigkilled_worker_shows_as_dead_with_the_run_it_held(tmp_path: Path, settings: Any) -> None:
    settings.RUNS_LEASE_SECONDS = LEASE_SECONDS  # the dashboard judges death by the lease the workers use
    sync_functions(all_functions())
    api = Client()
    api.force_login(get_user_model().objects.create_user("operator", password="pw"))
    effects = str(tmp_path / "effects.log")

    with worker_fleet(tmp_path, [crash_functions.__name__]) as fleet:
        first = fleet.start()
        [run] = client.runs_for_event(client.send(crash_functions.ASYNC_TRIGGER,
                                                  {"path": effects, "block_in": "parent"}))
        wait_until(lambda: label_counts(effects)["parent:slow:start"] == 1, 60, "the run never blocked", first)
        # A beat after the block: the live worker reports the run in flight.
        wait_until(lambda: (_by_pid(api, first.pid) or {}).get("in_flight") == 1, 30,
                   "the live worker never showed its run in flight", first)
        live = _by_pid(api, first.pid)
        assert live is not None and live["threads"] >= 1 and "it-crash-safety" in live["apps"]

        first.kill()
        wait_until(lambda: _by_pid(api, first.pid) is None, 30, "the killed worker stayed live")
        dead = _by_pid(api, first.pid, all="1")
        assert dead is not None and dead["state"] == "dead" and dead["died_at"] == dead["last_heartbeat"]
        assert [(held["id"], held["back"]) for held in dead["held_runs"]] == [(run.id, False)]

        release(effects)
        second = fleet.start()
        assert wait_for_run(run.id, timeout=60).status == "completed"
        back = _by_pid(api, first.pid, all="1")
        assert back is not None
        assert [(held["id"], held["back"], held["status"]) for held in back["held_runs"]] == [
            (run.id, True, "completed")]
        assert _by_pid(api, second.pid) is not None  # the second one is live
        page = api.get("/workers/").content.decode()
        assert dead["id"] in page and f"/runs/{run.id}/" in page
