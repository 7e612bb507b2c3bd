"""Helpers of the tests that run the probe functions of tests/sdk_apps on a live Tributary: send an event and
read the stored run, its steps by readable name, and the dashboard's JSON API.

The test process reads the test database directly (the tests use `transactional_db`, so the server's commits
are visible); the REST and dashboard reads go through the live server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from typing import Any

from tests.helpers import wait_until
from tests.sdk.harness import (
    FINISHED,
    SdkAppProcess,
    TributaryServer,
    http,
    send,
    sync,
    wait_registered,
    wait_run,
)

ENDED = ("completed", "failed", "cancelled", "skipped")  # Tributary's statuses of a run that ended


def step_hash(name: str) -> str:
    """The SDKs' step id: the SHA-1 of the user's step id (protocol document section 7)."""
    return hashlib.sha1(name.encode()).hexdigest()


def synced(sdk_app: Callable[..., SdkAppProcess], *kinds: str) -> list[SdkAppProcess]:
    """The apps of `kinds`, each synced with this test's (emptied) tables."""
    apps = [sdk_app(kind) for kind in kinds]
    for app in apps:
        sync(app)
        wait_registered(app)
    return apps


def run_of(server: TributaryServer, app: SdkAppProcess, event: str, function_id: str,
           data: dict[str, Any] | None = None, *, statuses: Collection[str] = FINISHED,
           timeout: float = 30.0) -> Any:
    """Send `event`, wait for its run of `function_id` (the app's, short id) and return the stored Run row."""
    from runs.models import Run

    read = wait_run(server, send(server, event, data), app.function_id(function_id), statuses=statuses,
                    timeout=timeout)
    return Run.objects.get(id=read["run_id"])


def steps_of(run: Any) -> dict[str, Any]:
    """The run's steps by readable name; each also checked to carry the SDK's hashed step id."""
    from runs.models import Step

    steps = {step.display_name: step for step in Step.objects.filter(run_id=run.id)}
    for name, step in steps.items():
        assert step.step_id == step_hash(name), (name, step.step_id)
    return steps


def wait_status(run_id: str, statuses: Collection[str], timeout: float = 30.0) -> Any:
    """The Run row once its (Tributary) status is one of `statuses`."""
    from runs.models import Run

    return wait_until(lambda: Run.objects.get(id=run_id), lambda run: run.status in statuses, timeout,
                      f"run {run_id} in {sorted(statuses)}")


def first_run(what: str, done: Callable[[Any], bool] = lambda run: True, timeout: float = 15.0,
              **filters: Any) -> Any:
    """The first Run row matching `filters` once `done` holds for it."""
    from runs.models import Run

    return wait_until(lambda: Run.objects.filter(**filters).first(), lambda run: run is not None and done(run),
                      timeout, what)


def wait_step(run: Any, name: str) -> Any:
    return wait_until(lambda: steps_of(run).get(name), lambda step: step is not None, 15, f"the step {name}")


def explain(run: Any, app: SdkAppProcess) -> str:
    return f"status={run.status} output={run.output!r} error={run.error!r}\n{app.log()[-3000:]}"


def dashboard_get(server: TributaryServer, token: str, path: str) -> Any:
    """A dashboard JSON API read on the live server with an API token."""
    answer = http("GET", f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200, f"GET {path} answered {answer.status}: {answer.body[:500]!r}"
    return answer.json()
