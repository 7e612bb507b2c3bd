from __future__ import annotations

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from dashboard import (
            checks,  # noqa: F401  (registers the system checks)
            sessions,  # noqa: F401  (connects the logout signal that closes websockets)
        )
        from dashboard.live import PUBLISHER
        from dashboard.login_throttle import on_logged_in, on_login_failed
        from runs.store import changes

        user_login_failed.connect(on_login_failed, dispatch_uid="dashboard.login_throttle.failed")
        user_logged_in.connect(on_logged_in, dispatch_uid="dashboard.login_throttle.logged_in")
        # Websockets hear of run changes the store announces (the store knows nothing of channel layers).
        changes.subscribe(PUBLISHER)
