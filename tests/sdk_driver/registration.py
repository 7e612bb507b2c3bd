"""Test helpers: SDK app functions registered straight into the store, for driver tests that do not go
through a sync."""

from __future__ import annotations

import socket
from typing import Any

from runs import client
from runs.domain import RunInfo
from runs.models import Function, SdkApp
from runs.remote import composite_id
from runs.store.passes import forget_function_configs
from runs.testing import wait_for_run, worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def register_rows(app_id: str, url: str, triggers: dict[str, str], *, runtime: str, retries: int = 4) -> None:
    SdkApp.objects.update_or_create(app_id=app_id, defaults={"url": url, "runtime": runtime})
    for function_id, trigger in triggers.items():
        Function.objects.update_or_create(app_id=app_id, function_id=function_id, defaults={
            "trigger": trigger, "config": {"retries": retries, "runtime": runtime, "cancel_on": [],
                                           "url": f"{url}?fnId={composite_id(app_id, function_id)}&stepId=step"}})
    forget_function_configs()


def run_edge(app_url: str, *, retries: int = 1, data: dict[str, Any] | None = None, timeout: float = 30) -> RunInfo:
    """Register function `edge` of app `edge-app` at `app_url`, run it once in a worker, return the ended run."""
    return run_once("edge-app", app_url, {"edge": "edge/go"}, "edge/go", data, runtime="inngest-js", retries=retries,
                    timeout=timeout)


def run_once(app_id: str, app_url: str, triggers: dict[str, str], event: str, data: dict[str, Any] | None = None, *,
             runtime: str = "inngest-py", retries: int = 0, timeout: float = 30) -> RunInfo:
    """Register the app's functions (`triggers`: function id -> event), send `event` once with a worker running,
    and return the run it started, ended."""
    register_rows(app_id, app_url, triggers, runtime=runtime, retries=retries)
    with worker():
        [run] = client.runs_for_event(client.send(event, data))
        return wait_for_run(run.id, timeout=timeout)
