"""`manage.py serve`: the embedded mode. Migrates, then serves the web app with Daphne and runs a worker in
the same process (SQLite file by default; DATABASE_URL switches to PostgreSQL)."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from runs import conf, inngest_mode
from runs.checks import inngest_mode_problems
from runs.loading import load_functions
from runs.management.ports import ensure_port_free
from runs.sdk.app import all_functions
from runs.store.functions import sync_functions
from runs.worker import Worker


class Command(BaseCommand):
    help = "Serve the dashboard and run a worker in one process (embedded mode)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true", help="serve only; workers run elsewhere")
        parser.add_argument("--demo", action="store_true",
                            help="also load the example functions, a demo/demo login and example runs")
        parser.add_argument("--dev", action="store_true",
                            help="Inngest dev mode: SDK apps sync and send events without signatures or keys "
                                 "(like `inngest dev`; local development only; a signing key still wins)")

    def handle(self, *args: Any, host: str, port: int, no_worker: bool, demo: bool = False, dev: bool = False,
               **options: Any) -> None:
        if dev:  # for this process's server and worker, whatever the setting or the environment say
            inngest_mode.force_dev()
            # The system checks ran before this line turned dev mode on: show its warning now.
            for message in inngest_mode_problems(debug=settings.DEBUG, database_url=bool(os.environ.get("DATABASE_URL"))):
                self.stderr.write(str(message))
        ensure_port_free(host, port)  # first: a busy port must not migrate, create demo runs or print the banner
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from dashboard.asgi import application

        call_command("migrate", interactive=False, verbosity=0)
        if demo:  # imports dashboard.demo_functions, so the worker below runs them too
            call_command("demo", "--no-runs", stdout=self.stdout)
        load_functions()
        sync_functions(all_functions())
        worker = None if no_worker else Worker()
        if worker:
            worker.start()
        if demo:  # once per database: a restart neither starts the demo runs again nor resets the password
            from dashboard.management.commands.demo import send_demo_events

            send_demo_events()
        database = settings.DATABASES["default"]
        self.stdout.write(f"Tributary on http://{host}:{port}/  (database: {database['ENGINE'].rsplit('.', 1)[-1]} "
                          f"{database['NAME']}; worker: {'in this process' if worker else 'none'})")
        self._print_generated_event_key()
        self.stdout.write(f"Inngest SDK apps: {inngest_mode.describe()}")
        self.stdout.flush()
        server = Server(application=application, endpoints=build_endpoint_description_strings(host=host, port=port),
                        signal_handlers=True)
        try:
            server.run()
        finally:
            if worker:
                worker.stop()
        if not server.listening_addresses:  # taken between the check above and Daphne's own bind
            raise CommandError(f"could not listen on {host}:{port} (Daphne's error above says why)")

    def _print_generated_event_key(self) -> None:
        """Embedded mode generates its keys once per data directory (dashboard/keys.py); the event key is what
        senders need, so it is shown where the server says it started. A key from the environment is not."""
        if conf.get("RUNS_KEYS_FILE") is not None and not os.environ.get("RUNS_EVENT_KEY"):
            self.stdout.write(f"Event key (POST /api/events with Authorization: Bearer <key>): {conf.get('RUNS_EVENT_KEY')}  "
                              f"(kept in {conf.get('RUNS_KEYS_FILE')})")
