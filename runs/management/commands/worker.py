"""`manage.py worker`: a worker process. Any number of them cooperate against one PostgreSQL."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand

from runs.loading import load_functions
from runs.sdk.app import all_functions, registered_apps
from runs.store.functions import sync_functions
from runs.worker import Worker


class Command(BaseCommand):
    help = "Run a worker that executes runs of the functions this process can import."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--threads", type=int, default=None, help="executor threads (RUNS_WORKER_THREADS)")

    def handle(self, *args: Any, threads: int | None = None, **options: Any) -> None:
        load_functions()
        synced = sync_functions(all_functions())
        worker = Worker(threads=threads)
        self.stdout.write(f"worker {worker.name}: {synced} functions of apps {', '.join(registered_apps()) or '-'}; "
                          f"{worker.threads} threads", ending="\n")
        self.stdout.flush()

        def stop(signum: int, frame: object) -> None:
            worker.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        worker.run_forever()
