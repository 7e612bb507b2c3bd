"""System checks (`manage.py check`, and before serve/worker start): database configurations the store
cannot run safely on, and an Inngest mode that is unsafe where it is used."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from runs import inngest_mode
from runs.inngest import signing
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


@register()
def check_inngest_mode(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    return inngest_mode_problems(debug=settings.DEBUG, database_url=bool(os.environ.get("DATABASE_URL")))


def inngest_mode_problems(*, debug: bool, database_url: bool) -> list[CheckMessage]:
    """Dev mode accepts unauthenticated SDK registrations: fine on a developer's machine, not in production
    (DEBUG off) nor against a shared database (DATABASE_URL). A signing key that is not one fails."""
    messages: list[CheckMessage] = []
    mode = inngest_mode.mode()
    if mode == "dev" and (not debug or database_url):
        why = "DEBUG is off" if not debug else "DATABASE_URL is set"
        messages.append(Warning(
            f"Inngest dev mode is on while {why}: any client can register SDK apps (and so make this server call "
            "URLs of its choosing) and read runs, with no signature or key.",
            hint="Set RUNS_INNGEST_SIGNING_KEY (signed mode) and unset RUNS_INNGEST_DEV for anything but local "
                 "development.", id="runs.W002"))
    for key in inngest_mode.signing_keys():
        try:
            signing.bearer_digest(key)
        except ValueError:
            messages.append(Error(
                "RUNS_INNGEST_SIGNING_KEY (or its fallback) is not a signing key: expected signkey-<env>-<hex> "
                "as Inngest issues them (the apps' INNGEST_SIGNING_KEY).", id="runs.E003"))
    return messages
