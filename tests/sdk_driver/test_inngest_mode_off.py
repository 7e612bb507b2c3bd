"""A worker in neither signed nor dev mode calls no SDK app (issue 10's "off" mode covers the worker too).

Before, it called apps unsigned as if in dev mode: dev mode without anyone switching it on, which is what a
separate `manage.py worker` did when only `serve --dev` had been set in another process. Now each attempt fails
saying what to set, on the retry backoff an unreachable app gets, so fixing the worker's configuration heals
the run. `manage.py worker --dev` switches dev mode on for a worker process as `serve --dev` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runs import client
from runs.testing import wait_for_run, worker
from tests.helpers import INNGEST_MODE_SETTINGS, inngest_mode, wait_until
from tests.integration.processes import requires_postgres, worker_fleet
from tests.sdk_driver.fake_app import FakeApp
from tests.sdk_driver.registration import register_rows, run_edge

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mode_off(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    inngest_mode(settings, monkeypatch, dev=False)


def test_off_mode_calls_no_app_and_fails_saying_what_to_set(fake_app: FakeApp, mode_off: None) -> None:
    done = run_edge(fake_app.url, retries=1)
    assert done.status == "failed"
    assert done.error["name"] == "InngestModeOff", done.error
    assert "RUNS_INNGEST_SIGNING_KEY" in done.error["message"] and "RUNS_INNGEST_DEV=1" in done.error["message"]
    assert "manage.py worker --dev" in done.error["message"]
    assert done.attempts == 2 and fake_app.calls == 0  # retried like an unreachable app, never called


def test_switching_a_mode_on_heals_the_retried_run(fake_app: FakeApp, mode_off: None, settings: Any) -> None:
    settings.RUNS_RETRY_BASE_SECONDS = 0.3
    fake_app.body = b'"healed"'
    register_rows("edge-app", fake_app.url, {"edge": "edge/go"}, runtime="inngest-js", retries=5)
    with worker():
        [run] = client.runs_for_event(client.send("edge/go"))
        wait_until(lambda: client.get_run(run.id), lambda info: (info.error or {}).get("name") == "InngestModeOff",
                   10, "a first refused attempt")
        settings.RUNS_INNGEST_DEV = True
        done = wait_for_run(run.id, timeout=30)
    assert done.status == "completed" and done.output == "healed", done.error
    assert fake_app.calls == 1 and done.attempts >= 2


@requires_postgres
@pytest.mark.parametrize(("args", "line", "status"), [
    ((), "Inngest SDK apps: off", "failed"),
    (("--dev",), "Inngest SDK apps: dev mode (no signatures)", "completed"),
])
def test_manage_py_worker_dev_switches_dev_mode_on(fake_app: FakeApp, tmp_path: Path, args: tuple[str, ...],
                                                   line: str, status: str) -> None:
    register_rows("edge-app", fake_app.url, {"edge": "edge/go"}, runtime="inngest-js", retries=0)
    with worker_fleet(tmp_path, []) as fleet:
        for name in INNGEST_MODE_SETTINGS:
            fleet.env.pop(name, None)
        process = fleet.start(*args)
        process.wait_ready()
        assert line in process.log()
        [run] = client.runs_for_event(client.send("edge/go"))
        done = wait_for_run(run.id, timeout=30)
    assert done.status == status, done.error
    assert fake_app.calls == (1 if status == "completed" else 0)
