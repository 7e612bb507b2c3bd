from __future__ import annotations

from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from runs import checks  # noqa: F401  (registers the system checks)
        from runs.store.backends import on_connection_created

        # The database backend configures each new connection itself (SQLite: IMMEDIATE, busy timeout, WAL).
        connection_created.connect(on_connection_created, dispatch_uid="runs.store.backends.configure")
