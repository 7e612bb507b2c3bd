"""Syncing the functions defined in code into the database, so triggers and references resolve anywhere."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from django.db import transaction

from runs.models import CancelRule, Function
from runs.store.ending import forget_listeners
from runs.store.passes import forget_function_configs


class FunctionDefinition(Protocol):
    """What the store keeps of a function defined in code (runs.sdk.FunctionDef is one): the store reads
    definitions through this, never the SDK's classes."""

    @property
    def app_id(self) -> str: ...
    @property
    def function_id(self) -> str: ...
    @property
    def trigger(self) -> str | None: ...
    def config(self) -> dict[str, Any]: ...


def sync_functions(functions: Iterable[FunctionDefinition]) -> int:
    """Upsert each function's trigger and configuration; returns how many were synced."""
    count = 0
    with transaction.atomic():
        for fn in functions:
            Function.objects.update_or_create(
                app_id=fn.app_id, function_id=fn.function_id,
                defaults={"trigger": fn.trigger or "", "config": fn.config()},
            )
            CancelRule.objects.filter(app_id=fn.app_id, function_id=fn.function_id).delete()
            CancelRule.objects.bulk_create([
                CancelRule(app_id=fn.app_id, function_id=fn.function_id, event=rule["event"], match=rule["match"],
                           timeout_ms=rule["timeout_ms"]) for rule in fn.config()["cancel_on"]])
            count += 1
    forget_listeners()
    forget_function_configs()
    return count

