"""`manage.py demo`: a fresh database becomes something to look at.

Migrates, creates a login (demo/demo by default, allowed to send events and act on runs), registers the example
functions of `dashboard/demo_functions.py` and sends one event per story. The runs start as soon as a worker
runs: `manage.py serve --demo` does all of this and then serves with its embedded worker.

Once per database: the demo events have fixed ids (the intake stores an id once), and an existing login keeps
its password unless --reset-password is given, so `serve --demo` can restart without undoing anything.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import BaseCommand

from runs import client
from runs.models import Event
from runs.store.functions import sync_functions

DEMO_EVENT_ID_PREFIX = "tributary-demo-"


def ensure_demo_user(username: str, password: str, *, reset_password: bool = False) -> str:
    """A staff login with runs.operate_run: "created" with `password`, else "password reset" (when asked) or
    "exists" (its password, maybe changed by its owner since, left alone)."""
    users = get_user_model()
    user, created = users.objects.get_or_create(username=username, defaults={"is_staff": True})
    if created or reset_password:
        user.set_password(password)
        user.save()
    user.user_permissions.add(Permission.objects.get(codename="operate_run", content_type__app_label="runs"))
    return "created" if created else "password reset" if reset_password else "exists"


def load_demo_functions() -> int:
    from dashboard import demo_functions

    return sync_functions(demo_functions.app.functions.values())


def send_demo_events() -> list[str]:
    """Send each story's event once per database; the ids of those sent now (none when sent before)."""
    from dashboard import demo_functions

    events = [{**event, "id": DEMO_EVENT_ID_PREFIX + event["name"].replace("/", "-")}
              for event in demo_functions.DEMO_EVENTS]
    known = set(Event.objects.filter(id__in=[event["id"] for event in events]).values_list("id", flat=True))
    client.send_many(events)  # stores and starts only the unknown ids, even when two starts race
    return [event["id"] for event in events if event["id"] not in known]


class Command(BaseCommand):
    help = "Migrate, create a demo login, register example functions and start example runs."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", default="demo")
        parser.add_argument("--no-runs", action="store_true", help="do not send the demo events")
        parser.add_argument("--reset-password", action="store_true",
                            help="set the password of an existing login again (a new login always gets it)")

    def handle(self, *args: Any, username: str, password: str, no_runs: bool, reset_password: bool = False,
               **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        login = ensure_demo_user(username, password, reset_password=reset_password)
        count = load_demo_functions()
        if login == "exists":
            self.stdout.write(f"Login: {username}  (exists: its password is unchanged; --reset-password sets it "
                              f"again; may send events and act on runs)")
        else:
            self.stdout.write(f"Login: {username} / {password}  ({login}; may send events and act on runs)")
        self.stdout.write(f"Registered {count} example functions of app 'demo'.")
        if not no_runs:
            events = send_demo_events()
            if not events:
                self.stdout.write("The demo events were sent to this database before (once per database).")
                return
            self.stdout.write(f"Sent {len(events)} demo events: a chain, a fan-out, a timeout, a failure three "
                              f"levels deep and a run that sleeps for an hour. A worker that loads "
                              f"dashboard.demo_functions runs them: `manage.py serve --demo`, or "
                              f"RUNS_FUNCTION_MODULES=dashboard.demo_functions with `serve` or `worker`.")
