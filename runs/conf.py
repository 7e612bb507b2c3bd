"""Tributary's settings: every `RUNS_*` Django setting with its default and what it does, in one place.

A project that installs `runs` and `dashboard` defines only the settings it wants to change; everything reads
them through `get()`, which falls back to the default here. docs/settings.md documents each one (a test keeps
the two in step). The bundled project (dashboard/settings.py) also takes them from environment variables of
the same name, parsed by `from_environ()`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings


def _optional(text: str) -> str | None:
    return text or None


def _optional_int(text: str) -> int | None:
    return int(text) if text.strip() else None


def flag(text: str) -> bool:
    """An on/off environment value: 1, true, yes or on (any case) is on."""
    return text.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Setting:
    """One `RUNS_*` setting: its name, default, what it does, and how an environment value is read."""
    name: str
    default: Any
    doc: str
    # Parses an environment variable's text for the bundled project; None: not taken from the environment there.
    parse: Callable[[str], Any] | None = str
    # Read from the environment variable of its name when used, in any project, unless the settings module
    # defines the setting (runs/inngest_mode.py). The bundled project leaves it undefined, so that the
    # environment decides there (`from_environ` skips it).
    environ_when_unset: bool = False


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    # --- functions and workers ---
    Setting("RUNS_FUNCTION_MODULES", [], "Modules to import for functions, besides every installed app's "
            "`functions.py`. In any project the environment variable of that name adds more (comma-separated).", None),
    Setting("RUNS_WORKER_THREADS", 4, "Runs a worker process executes at once (one thread each).", int),
    Setting("RUNS_CLAIM_BATCH", None, "Due runs a worker claims per query; None: 3 per executor thread. Claimed "
            "runs wait in the worker for a free thread (a prefetch, as Celery's): fewer claims under load, but a "
            "worker busy with long runs holds the ones it claimed. Set 1 for long runs spread over many workers.",
            _optional_int),
    Setting("RUNS_PREPARED_STATEMENTS", True, "On PostgreSQL, the worker's hot statements are prepared once per "
            "connection (parsed and planned once). Turn off behind a transaction-pooling PgBouncer older than 1.21, "
            "which cannot keep prepared statements.", flag),
    Setting("RUNS_SHARED_COMMITS", True, "On PostgreSQL, an invoke hop that hands a run to its own thread (the "
            "child it started, the parent it resumed) commits together with that run's next pass: one commit for "
            "two passes, settled before any step's code runs (runs/store/handovers.py).", flag),
    Setting("RUNS_LEASE_SECONDS", 30.0, "How long a claimed run stays a worker's without a heartbeat; a crashed "
            "worker's runs come back after it.", float),
    Setting("RUNS_RETRY_BASE_SECONDS", 1.0, "First backoff between a step's attempts (doubles each attempt).",
            float),
    Setting("RUNS_MAX_INVOKE_DEPTH", 100, "Deepest chain of `step.invoke` calls; a deeper invoke fails.", int),
    Setting("RUNS_DB_RETRY_SECONDS", 30.0, "How long a transaction is retried through transient database errors "
            "(restart, lost connection, deadlock, serialization failure).", float),
    Setting("RUNS_PRUNE_OLDER_THAN", None, "Workers delete finished run trees older than this (\"30d\", \"12h\"), "
            "at most hourly; None keeps everything.", _optional),
    Setting("RUNS_INNGEST_CALL_TIMEOUT_SECONDS", 300.0, "How long a Call Request to an Inngest SDK app may take in "
            "all (connecting, the app running one step or the function up to its next step, reading its whole "
            "answer); past it the attempt fails as a timeout and is retried.", float),
    # --- event intake over HTTP ---
    Setting("RUNS_EVENT_KEY", "", "Bearer key of `POST <prefix>api/events`; empty: every HTTP intake request is "
            "refused (runs.client.send still works). The bundled project takes it from the environment or "
            "generates it.", None),
    Setting("RUNS_MAX_REQUEST_BODY_BYTES", 5 * 512 * 1024, "Largest request body on any URL served through "
            "the dashboard's ASGI application (413 before it is read).", int),
    Setting("RUNS_INTAKE_MAX_EVENTS", 5000, "Events in one `POST api/events` or `send_many` (more: 413).", int),
    Setting("RUNS_INTAKE_RATE", 1000.0, "Events per second per event key, per serving process (0: no limit).",
            float),
    Setting("RUNS_INTAKE_BURST", 10000, "Events a key may send at once before the rate applies.", int),
    # --- official Inngest SDK apps (runs/inngest_api.py) ---
    Setting("RUNS_INNGEST_SIGNING_KEY", "", "Signing key shared with Inngest SDK apps (`signkey-<env>-<hex>`): "
            "signed mode, in which Call Requests are signed and SDK requests need its bearer. Empty: none. When "
            "the settings module does not define it, the environment variable of that name, in any project.", str,
            environ_when_unset=True),
    Setting("RUNS_INNGEST_SIGNING_KEY_FALLBACK", "", "A second signing key accepted while keys rotate. When the "
            "settings module does not define it, the environment variable.", str, environ_when_unset=True),
    Setting("RUNS_INNGEST_DEV", False, "Dev mode for Inngest SDK apps when no signing key is set: nothing is "
            "signed and SDK requests need no auth (`manage.py serve --dev` / `worker --dev` turn it on). When the "
            "settings module does not define it, the environment variable (`RUNS_INNGEST_DEV=1`).", flag,
            environ_when_unset=True),
    # --- dashboard ---
    Setting("RUNS_LOGIN_FAILURES_PER_USER", 5, "Failed logins for one username before logins are refused (429).",
            int),
    Setting("RUNS_LOGIN_FAILURES_PER_ADDRESS", 20, "Failed logins from one address before logins are refused.",
            int),
    Setting("RUNS_LOGIN_THROTTLE_SECONDS", 900, "How long a throttled username or address is refused.", int),
    Setting("RUNS_METRICS_TOKEN", "", "Bearer token Prometheus scrapes `<prefix>metrics` with; empty: only "
            "logged-in users with the runs.view_run permission (and API tokens of such users) may.", str),
    Setting("RUNS_WS_SESSION_CHECK_SECONDS", 5.0, "How often an open websocket re-checks that its session still "
            "logs its user in.", float),
    Setting("RUNS_READ_REPLICA_ALIAS", None, "A database alias (a read replica of the default database): "
            "the dashboard's GET and HEAD requests read there, outside transactions, through "
            "`dashboard.replica.ReadReplicaRouter` and `ReplicaReadsMiddleware`. None: every query on the default.",
            _optional),
    Setting("RUNS_KEYS_FILE", None, "Set by the bundled project: the file its generated keys are kept in.", None),
)}


def get(name: str) -> Any:
    """The project's value of a Tributary setting, else its default. KeyError for a name not listed here."""
    return getattr(settings, name, SETTINGS[name].default)


def defined(name: str) -> bool:
    """Whether the project's settings module defines this Tributary setting itself (to any value, its default
    included). KeyError for a name not listed here."""
    if name not in SETTINGS:
        raise KeyError(name)
    return hasattr(settings, name)


def from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings for a settings module: each parsed from the environment variable of its name where there is
    one (and the setting is taken from the environment), else its default. Those read from the environment
    when used (`environ_when_unset`) are left out: defining them here would stop the environment deciding."""
    return {name: setting.parse(environ[name]) if setting.parse is not None and name in environ
            else setting.default for name, setting in SETTINGS.items() if not setting.environ_when_unset}
