"""System checks (`manage.py check`, and before serve/worker start): keys that anyone could know.

Settings already refuse such keys outside embedded DEBUG mode; this also catches keys set some other way
(a project's own settings module, an override) and names the problem in every `check`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from dashboard.keys import key_problem


@register(Tags.security)
def check_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    level = Warning if settings.DEBUG else Error  # a developer's DEBUG instance may run; anything else may not
    messages: list[CheckMessage] = []
    for setting, number in (("SECRET_KEY", "001"), ("RUNS_EVENT_KEY", "002")):
        if setting == "RUNS_EVENT_KEY" and not hasattr(settings, setting):
            continue  # a project that never set it has no HTTP intake (every request is refused): nothing to forge
        problem = key_problem(getattr(settings, setting, None))
        if problem:
            messages.append(level(
                f"{setting} {problem}: anyone who knows it can "
                f"{'forge session cookies' if setting == 'SECRET_KEY' else 'send events'}.",
                hint="Unset DJANGO_SECRET_KEY and RUNS_EVENT_KEY in embedded mode (keys are generated under the "
                     "data directory), or set random values: python -c 'import secrets; "
                     "print(secrets.token_urlsafe(50))'",
                id=f"dashboard.{'W' if settings.DEBUG else 'E'}{number}"))
    return messages


@register()
def check_channel_layer(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The dashboard's websockets listen on a channel layer that workers publish to; without one the pages
    still work, but never live."""
    if getattr(settings, "CHANNEL_LAYERS", None):
        return []
    return [Warning("CHANNEL_LAYERS is not set: the dashboard's pages will not update live.",
                    hint="Set a channel layer every process shares, e.g. channels_redis.core.RedisChannelLayer "
                         "(docs/settings.md).", id="dashboard.W010")]


@register()
def check_read_replica(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """RUNS_READ_REPLICA_ALIAS must name a database alias, or every dashboard GET would fail."""
    from dashboard.replica import replica_alias

    alias = replica_alias()
    if alias is None or alias in settings.DATABASES:
        return []
    return [Error(f"RUNS_READ_REPLICA_ALIAS names {alias!r}, which is not in DATABASES.",
                  hint="Add the replica to DATABASES (the bundled project: DATABASE_REPLICA_URL) or unset it.",
                  id="dashboard.E020")]
