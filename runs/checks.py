"""System checks (`manage.py check`, and before serve/worker start): database configurations the store
cannot run safely on."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from runs.store.backends import SUPPORTED_VENDORS


def _is_in_memory(name: str) -> bool:
    return name in ("", ":memory:") or "mode=memory" in name


@register(Tags.database)
def check_database(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    return database_problems(settings.DATABASES.get("default", {}))


def database_problems(database: dict[str, Any]) -> list[CheckMessage]:
    """What is unsafe about a DATABASES entry for the store (errors stop serve and worker)."""
    messages: list[CheckMessage] = []
    engine = str(database.get("ENGINE", ""))
    vendor = engine.rsplit(".", 1)[-1].replace("sqlite3", "sqlite")
    if vendor not in SUPPORTED_VENDORS:
        messages.append(Error(
            f"the default database is {engine!r}; Tributary's store runs on PostgreSQL or SQLite only.",
            hint="Use django.db.backends.postgresql (scaled out) or django.db.backends.sqlite3 (embedded).",
            id="runs.E001"))
        return messages
    if vendor != "sqlite":
        return messages
    if _is_in_memory(str(database.get("NAME", ""))):
        messages.append(Error(
            "the default database is an in-memory SQLite database: a worker's threads each open a connection "
            "of their own and would each see an empty database of their own.",
            hint="Give DATABASES['default']['NAME'] a file path.", id="runs.E002"))
    mode = str((database.get("OPTIONS") or {}).get("transaction_mode") or "IMMEDIATE").upper()
    if mode != "IMMEDIATE":
        messages.append(Warning(
            f"SQLite transactions are {mode}: a transaction that reads before it writes can fail with "
            f"'database is locked' instead of waiting, and claims rely on taking the write lock up front.",
            hint="Remove OPTIONS['transaction_mode'] (the runs app sets IMMEDIATE itself) or set it to IMMEDIATE.",
            id="runs.W001"))
    return messages
