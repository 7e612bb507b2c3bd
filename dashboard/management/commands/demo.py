"""`manage.py demo`: a fresh database becomes something to look at.

Migrates, creates a login (demo/demo by default, allowed to send events and act on runs), registers the example
functions of `dashboard/demo_functions.py` and sends one event per story. The runs start as soon as a worker
runs: `manage.py serve --demo` does all of this and then serves with its embedded worker.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import BaseCommand

from runs import client
from runs.store.functions import sync_functions


def ensure_demo_user(username: str, password: str) -> bool:
    """Create (or reset the password of) a staff login with runs.operate_run; True when newly created."""
    users = get_user_model()
    user, created = users.objects.get_or_create(username=username, defaults={"is_staff": True})
    user.set_password(password)
    user.save()
    user.user_permissions.add(Permission.objects.get(codename="operate_run", content_type__app_label="runs"))
    return created


def load_demo_functions() -> int:
    from dashboard import demo_functions

    return sync_functions(demo_functions.app.functions.values())


def send_demo_events() -> list[str]:
    from dashboard import demo_functions

    return client.send_many([dict(event) for event in demo_functions.DEMO_EVENTS])


class Command(BaseCommand):
    help = "Migrate, create a demo login, register example functions and start example runs."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo")
        parser.add_argument("--no-runs", action="store_true", help="do not send the demo events")

    def handle(self, *args: Any, username: str, password: str, no_runs: bool, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        created = ensure_demo_user(username, password)
        count = load_demo_functions()
        self.stdout.write(f"Login: {username} / {password}  ({'created' if created else 'password reset'}; "
                          f"may send events and act on runs)")
        self.stdout.write(f"Registered {count} example functions of app 'demo'.")
        if not no_runs:
            events = send_demo_events()
            self.stdout.write(f"Sent {len(events)} demo events: a chain, a fan-out, a timeout, a failure three "
                              f"levels deep and a run that sleeps for an hour. A worker that loads "
                              f"dashboard.demo_functions runs them: `manage.py serve --demo`, or "
                              f"RUNS_FUNCTION_MODULES=dashboard.demo_functions with `serve` or `worker`.")
