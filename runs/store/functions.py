"""Syncing the functions defined in code into the database, so triggers and references resolve anywhere."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from runs.models import Function
from runs.sdk.app import FunctionDef
from runs.store.ending import forget_listeners


def sync_functions(functions: Iterable[FunctionDef]) -> int:
    """Upsert each function's trigger and configuration; returns how many were synced."""
    count = 0
    with transaction.atomic():
        for fn in functions:
            Function.objects.update_or_create(
                app_id=fn.app_id, function_id=fn.function_id,
                defaults={"trigger": fn.trigger or "", "config": fn.config()},
            )
            count += 1
    forget_listeners()
    return count

