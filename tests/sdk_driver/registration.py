"""Test helpers: SDK app functions registered straight into the store, for driver tests that do not go
through a sync."""

from __future__ import annotations

import socket

from runs.models import Function, SdkApp
from runs.remote import composite_id
from runs.store.passes import forget_function_configs


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
