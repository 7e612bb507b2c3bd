"""`manage.py bench`: the benchmarks of tests/benchmarks on PostgreSQL with one `manage.py worker` process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

DEFAULT_URL = "postgres://root@127.0.0.1:5432/tributary_bench"
WORKLOAD_MODULE = "tests.benchmarks.workloads"
UI_WORKLOAD = "UI"  # the dashboard's reads over --ui-runs generated runs (tests/benchmarks/ui.py)


class Command(BaseCommand):
    help = (
        "Run the benchmark workloads (W1 chain of 50 invokes, W2 fan-out of 200 children, W3 1000 one-step "
        "runs, W4 the same with a concurrency limit of 10 per key over 100 keys; W1-SDK and W2-SDK: W1 and W2 with "
        "inngest-py functions served over HTTP by gunicorn, in signed mode) against PostgreSQL with ONE `manage.py worker` subprocess, printing one JSON line per workload "
        "(median of --reps, and every rep). The database is --database-url (default $BENCH_DATABASE_URL or "
        f"{DEFAULT_URL}), never $DATABASE_URL: it is created if missing, migrated, and its runs tables are "
        "TRUNCATED between workloads. The bench process sends events itself, so when its DATABASE_URL is not "
        "that database it re-executes itself with DATABASE_URL set to it. Opt-in dashboard workloads: LIVE "
        "(websocket latency of a worker's status change through Redis and a Daphne server) and GRAPH (graph "
        "JSON of a 10,001-run tree over HTTP), e.g. --only LIVE,GRAPH; UI (the runs list, its searches, incidents and metrics "
        "over --ui-runs generated runs, server-side p50/p95 and the plans of slow ones; it replaces the runs). Redis is $BENCH_REDIS_URL or "
        "redis://127.0.0.1:6379/8."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--reps", type=int, default=3, help="measured repetitions per workload (default 3)")
        parser.add_argument("--only", default="W1,W2,W3", help="comma-separated workloads, e.g. W1,W3")
        parser.add_argument("--database-url", default=None, help="PostgreSQL URL of the bench database")
        parser.add_argument("--worker-threads", type=int, default=None,
                            help="executor threads of the worker (default: RUNS_WORKER_THREADS)")
        parser.add_argument("--timeout", type=float, default=300.0, help="seconds one rep may take")
        parser.add_argument("--ui-runs", type=int, default=1_000_000,
                            help="runs generated for the UI workload (default 1,000,000)")

    def handle(self, *args: Any, reps: int, only: str, database_url: str | None, worker_threads: int | None,
               timeout: float, ui_runs: int, **options: Any) -> None:
        from tests.benchmarks.dashboard import DASHBOARD_WORKLOADS
        from tests.benchmarks.measure import WORKLOADS

        url = database_url or os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL
        if not url.startswith(("postgres://", "postgresql://")):
            raise CommandError("the benchmark needs a PostgreSQL database URL")
        names = [name.strip().upper() for name in only.split(",") if name.strip()]
        known = [*WORKLOADS, *DASHBOARD_WORKLOADS, UI_WORKLOAD]
        unknown = [name for name in names if name not in known]
        if unknown or not names or reps < 1 or ui_runs < 1:
            raise CommandError(f"--only takes {', '.join(known)}; --reps and --ui-runs at least 1 "
                               f"(got {only!r}, {reps}, {ui_runs})")
        _create_database(url)
        if os.environ.get("DATABASE_URL") != url:
            self._reexec(url, reps=reps, names=names, worker_threads=worker_threads, timeout=timeout, ui_runs=ui_runs)
        self._manage("migrate", "--verbosity", "0", url=url, check=True)
        if UI_WORKLOAD in names:  # reads only: no worker; it replaces the runs with generated ones, so it goes first
            from tests.benchmarks.ui import run_ui_benchmark

            run_ui_benchmark(runs=ui_runs, out=self.stdout)
            names = [name for name in names if name != UI_WORKLOAD]
        if names:
            self._run(url, names=names, reps=reps, worker_threads=worker_threads, timeout=timeout)

    def _run(self, url: str, *, names: list[str], reps: int, worker_threads: int | None, timeout: float) -> None:
        from tests.benchmarks.dashboard import (
            DASHBOARD_WORKLOADS,
            DEFAULT_REDIS_URL,
            run_dashboard_benchmarks,
        )
        from tests.benchmarks.measure import SDK_WORKLOADS, run_benchmarks, truncate_runs
        from tests.benchmarks.sdk_bench import new_signing_key, sdk_app, sync

        truncate_runs()
        if any(name in SDK_WORKLOADS for name in names) and not os.environ.get("RUNS_INNGEST_SIGNING_KEY"):
            # The SDK app, the worker (it inherits the environment) and this process share a signing key: signed
            # mode, as in production. Then the same method again, with the app served and synced.
            os.environ["RUNS_INNGEST_SIGNING_KEY"] = key = new_signing_key()
            try:
                with sdk_app(key) as app_url:
                    sync(app_url)
                    self._run(url, names=names, reps=reps, worker_threads=worker_threads, timeout=timeout)
            finally:
                del os.environ["RUNS_INNGEST_SIGNING_KEY"]
            return
        threads = ["--threads", str(worker_threads)] if worker_threads else []
        redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
        # Only LIVE needs the worker to publish its changes (through Redis); W workloads run in the same bench
        # then pay for publishing too, so measure LIVE on its own when comparing W numbers.
        live_env = {"REDIS_URL": redis_url} if "LIVE" in names else {}
        worker = self._manage("worker", *threads, url=url, stdout=subprocess.PIPE,
                              extra_env={"RUNS_FUNCTION_MODULES": WORKLOAD_MODULE, **live_env})
        try:
            assert worker.stdout is not None
            ready = worker.stdout.readline()  # printed once the bench functions are synced into the database
            if not ready:
                raise CommandError(f"the worker exited with code {worker.wait()} before it was ready")
            self.stderr.write(f"bench: {ready.strip()}")
            run_benchmarks([n for n in names if n not in DASHBOARD_WORKLOADS], reps=reps, timeout=timeout,
                           out=self.stdout)
            dashboard = [n for n in names if n in DASHBOARD_WORKLOADS]
            if dashboard:
                run_dashboard_benchmarks(dashboard, database_url=url, redis_url=redis_url, timeout=timeout,
                                         out=self.stdout)
        finally:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    def _reexec(self, url: str, *, reps: int, names: list[str], worker_threads: int | None,
                timeout: float, ui_runs: int) -> None:
        argv = [sys.executable, str(_manage_py()), "bench", "--reps", str(reps), "--only", ",".join(names),
                "--database-url", url, "--timeout", str(timeout), "--ui-runs", str(ui_runs)]
        if worker_threads:
            argv += ["--worker-threads", str(worker_threads)]
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, argv, {**os.environ, "DATABASE_URL": url})

    def _manage(self, *command: str, url: str, check: bool = False, stdout: int | None = None,
                extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        env = {**os.environ, "DATABASE_URL": url, **(extra_env or {})}
        process = subprocess.Popen([sys.executable, str(_manage_py()), *command], env=env, stdout=stdout,
                                   text=True, cwd=settings.BASE_DIR)
        if check and process.wait() != 0:
            raise CommandError(f"manage.py {' '.join(command)} failed with code {process.returncode}")
        return process


def _manage_py() -> Path:
    return Path(settings.BASE_DIR) / "manage.py"


def _create_database(url: str) -> None:
    """CREATE DATABASE if it is missing (autocommit: CREATE DATABASE cannot run in a transaction)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = str(conninfo_to_dict(url).get("dbname") or "")
    if not name:
        raise CommandError(f"no database name in {url!r}")
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
