"""Helpers shared by the tests: waiting for a condition, the run an event started, overlap of time spans."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from runs import client
from runs.domain import RunInfo

T = TypeVar("T")


def wait_until(read: Callable[[], T], ready: Callable[[T], bool], timeout: float = 10, what: str = "") -> T:
    """Poll `read()` until `ready` holds for its value; TimeoutError naming the last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ready(value):
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what or 'condition'} not reached within {timeout} s: {value!r}")
        time.sleep(0.01)


def run_for(event_name: str, data: dict | None = None) -> RunInfo:
    """Send one event and return the one run it started (or stored as skipped)."""
    [run] = client.runs_for_event(client.send(event_name, data))
    return run


def run_id_for(event_name: str, data: dict | None = None) -> str:
    return run_for(event_name, data).id


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """The highest number of spans (start, end) open at one instant; an end at t closes before a start at t."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    open_now = highest = 0
    for _, delta in edges:
        open_now += delta
        highest = max(highest, open_now)
    return highest


def slot_gaps(spans: list[tuple[float, float]]) -> list[float]:
    """For every span that started in a slot another span had freed: how long that slot stayed idle (from the
    earliest unused end to this start). With work always queued, this is the wake-up latency."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    freed: list[float] = []  # ends not yet followed by a start, oldest first
    gaps = []
    for moment, delta in edges:
        if delta == -1:
            freed.append(moment)
        elif freed:
            gaps.append(moment - freed.pop(0))
    return gaps


def operator(name: str = "op", allowed: bool = True):  # type: ignore[no-untyped-def]
    """A user who may act on runs (the `operate_run` permission), or, with allowed=False, one who may only look."""
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user(name, password="pw")
    if allowed:
        user.user_permissions.add(Permission.objects.get(codename="operate_run"))
    return user


def csrf_session(user, page: str = "/runs/"):  # type: ignore[no-untyped-def]
    """A test client logged in as `user` that enforces CSRF, with the csrftoken cookie set by loading `page`."""
    from django.test import Client

    http = Client(enforce_csrf_checks=True)
    http.force_login(user)
    http.get(page)
    return http


INNGEST_MODE_SETTINGS = ("RUNS_INNGEST_DEV", "RUNS_INNGEST_SIGNING_KEY", "RUNS_INNGEST_SIGNING_KEY_FALLBACK")


def inngest_mode(settings, monkeypatch, *, dev: bool) -> None:  # type: ignore[no-untyped-def]
    """This test's Inngest mode, dev or off, whatever the environment says (runs.inngest_mode reads it when the
    settings do not define a value): no key, dev mode as asked."""
    for name in INNGEST_MODE_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    settings.RUNS_INNGEST_DEV = dev
    settings.RUNS_INNGEST_SIGNING_KEY = ""
