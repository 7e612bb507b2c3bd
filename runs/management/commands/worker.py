"""`manage.py worker`: a worker process. Any number of them cooperate against one PostgreSQL."""

from __future__ import annotations

import os
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from runs import inngest_mode
from runs.checks import inngest_mode_problems
from runs.loading import load_functions
from runs.sdk.app import all_functions, registered_apps
from runs.store.functions import sync_functions
from runs.worker import Worker


class Command(BaseCommand):
    help = "Run a worker that executes runs of the functions this process can import."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--threads", type=int, default=None, help="executor threads (RUNS_WORKER_THREADS)")
        parser.add_argument("--dev", action="store_true",
                            help="Inngest dev mode: call SDK apps without signatures, as `serve --dev` does (each "
                                 "process needs its own; local development only; a signing key still wins)")

    def handle(self, *args: Any, threads: int | None = None, dev: bool = False, **options: Any) -> None:
        if dev:  # for this process's worker, whatever the setting or the environment say (as serve --dev)
            inngest_mode.force_dev()
            # The system checks ran before this line turned dev mode on: show its warning now.
            for message in inngest_mode_problems(debug=settings.DEBUG, database_url=bool(os.environ.get("DATABASE_URL"))):
                self.stderr.write(str(message))
        load_functions()
        synced = sync_functions(all_functions())
        worker = Worker(threads=threads)
        self.stdout.write(f"worker {worker.name}: {synced} functions of apps {', '.join(registered_apps()) or '-'}; "
                          f"{worker.threads} threads; Inngest SDK apps: {inngest_mode.describe()}", ending="\n")
        self.stdout.flush()

        def stop(signum: int, frame: object) -> None:
            worker.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        worker.run_forever()
