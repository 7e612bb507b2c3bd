"""`manage.py bench`: the benchmarks of tests/benchmarks on PostgreSQL with one `manage.py worker` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

if TYPE_CHECKING:
    from tests.benchmarks.peer import PeerSetup

DEFAULT_URL = "postgres://root@127.0.0.1:5432/tributary_bench"
WORKLOAD_MODULE = "tests.benchmarks.workloads"
SCALE = "SCALE"
UI_WORKLOAD = "UI"  # the dashboard's reads over --ui-runs generated runs (tests/benchmarks/ui.py)


class Command(BaseCommand):
    _measured: dict[str, dict[str, Any]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._measured = {}  # our JSON line per workload, for --peer

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
        "redis://127.0.0.1:6379/8. --peer dbos runs ../shared/peers/dbos_bench.py in the DBOS venv after our "
        "workloads and prints each of W1/W2/W3 beside it with the ratio (JSON lines, a table on stderr). Our "
        "statements and commits per hop/child/run are counted on an in-process worker (--no-counts skips that). "
        "--only SCALE: throughput with 1/2/4 worker processes, big trees, a wake storm, a big cancel and a bulk "
        "retry (docs/scaling.md; --scale-factor 0.1 for a quick try)."
    )

    def add_arguments(self, parser: Any) -> None:
        from tests.benchmarks import peer  # the benchmarks live with the tests, not in the wheel

        parser.add_argument("--reps", type=int, default=3, help="measured repetitions per workload (default 3)")
        parser.add_argument("--only", default="W1,W2,W3", help="comma-separated workloads, e.g. W1,W3")
        parser.add_argument("--database-url", default=None, help="PostgreSQL URL of the bench database")
        parser.add_argument("--worker-threads", type=int, default=None,
                            help="executor threads of the worker (default: RUNS_WORKER_THREADS)")
        parser.add_argument("--timeout", type=float, default=300.0, help="seconds one rep may take")
        parser.add_argument("--ui-runs", type=int, default=1_000_000,
                            help="runs generated for the UI workload (default 1,000,000)")
        parser.add_argument("--peer", choices=peer.PEERS, default=None,
                            help="also run the peer's benchmark (W1-W3) and print ratios; installs nothing")
        parser.add_argument("--peer-python", default=None,
                            help=f"the peer venv's python (default $BENCH_DBOS_PYTHON or {peer.DEFAULT_PYTHON})")
        parser.add_argument("--peer-script", default=None,
                            help="dbos_bench.py (default $BENCH_DBOS_SCRIPT or ../shared/peers/dbos_bench.py)")
        parser.add_argument("--peer-url", default=None,
                            help=f"the peer's database (default $BENCH_DBOS_URL or {peer.DEFAULT_URL})")
        parser.add_argument("--no-counts", action="store_true",
                            help="skip counting statements and commits per unit (an extra in-process run each)")
        parser.add_argument("--scale-factor", type=float, default=1.0,
                            help="SCALE: multiply every size (10,000 fan-out, 1,000 chain, 100,000 runs) by this")
        parser.add_argument("--scale-workers", default="1,2,4", help="SCALE: worker process counts to compare")
        parser.add_argument("--scale-parts", default="throughput,trees,storm,cancel,retry",
                            help="SCALE: which measurements (default all)")
        parser.add_argument("--scaling-doc", default=None,
                            help="write the markdown tables (SCALE, --peer) into this file between its markers")

    def handle(self, *args: Any, reps: int, only: str, database_url: str | None, worker_threads: int | None,
               timeout: float, ui_runs: int, **options: Any) -> None:
        from tests.benchmarks import peer
        from tests.benchmarks.dashboard import DASHBOARD_WORKLOADS
        from tests.benchmarks.measure import WORKLOADS

        url = database_url or os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL
        if not url.startswith(("postgres://", "postgresql://")):
            raise CommandError("the benchmark needs a PostgreSQL database URL")
        names = [name.strip().upper() for name in only.split(",") if name.strip()]
        known = [*WORKLOADS, *DASHBOARD_WORKLOADS, UI_WORKLOAD, SCALE]
        unknown = [name for name in names if name not in known]
        if unknown or not names or reps < 1 or ui_runs < 1:
            raise CommandError(f"--only takes {', '.join(known)}; --reps and --ui-runs at least 1 "
                               f"(got {only!r}, {reps}, {ui_runs})")
        if not 0 < options["scale_factor"] <= 10:
            raise CommandError(f"--scale-factor takes a number above 0 and at most 10 (got {options['scale_factor']})")
        scale_workers = _worker_counts(options["scale_workers"])
        scale_parts = tuple(part.strip() for part in options["scale_parts"].split(",") if part.strip())
        if not scale_parts or set(scale_parts) - {"throughput", "trees", "storm", "cancel", "retry"}:
            raise CommandError("--scale-parts takes throughput, trees, storm, cancel, retry "
                               f"(got {options['scale_parts']!r})")
        setup = None
        if options["peer"]:
            # Checked before anything runs, so a missing venv costs nothing: exit 2 with the recipe.
            script = Path(options["peer_script"]) if options["peer_script"] else peer.default_script(
                Path(settings.BASE_DIR))
            try:
                setup = peer.resolve(python=options["peer_python"], script=script, url=options["peer_url"])
            except peer.PeerMissing as exc:
                raise CommandError(str(exc), returncode=2) from exc
        _create_database(url)
        if os.environ.get("DATABASE_URL") != url:
            self._reexec(url, reps=reps, names=names, worker_threads=worker_threads, timeout=timeout,
                         ui_runs=ui_runs, options=options)
        self._manage("migrate", "--verbosity", "0", url=url, check=True)
        if UI_WORKLOAD in names:  # reads only: no worker; it replaces the runs with generated ones, so it goes first
            from tests.benchmarks.ui import run_ui_benchmark

            run_ui_benchmark(runs=ui_runs, out=self.stdout)
        plain = [name for name in names if name not in (SCALE, UI_WORKLOAD)]
        if plain:
            self._run(url, names=plain, reps=reps, worker_threads=worker_threads, timeout=timeout)
        counts = {} if options["no_counts"] else self._counts(plain, worker_threads)
        if setup is not None:
            self._compare(setup, names=plain, reps=reps, timeout=timeout, counts=counts,
                          doc=options["scaling_doc"])
        if SCALE in names:
            from tests.benchmarks.scale import markdown, run_scale, write_doc

            report = run_scale(url=url, factor=options["scale_factor"], workers=scale_workers,
                                     worker_threads=worker_threads, timeout=timeout, out=self.stdout,
                                     manage=self._manage, parts=scale_parts)
            tables = markdown(report)
            self.stderr.write(tables)
            if options["scaling_doc"]:
                write_doc(Path(options["scaling_doc"]), tables)

    def _counts(self, names: list[str], worker_threads: int | None) -> dict[str, dict[str, Any]]:
        """Statements and commits per hop/child/run of the worker, counted in-process (profile_queries)."""
        from tests.benchmarks.profile_queries import UNITS, count_workload

        counts = {}
        for name in names:
            if name in UNITS:
                counts[name], _ = count_workload(name, threads=worker_threads)
                self.stdout.write(json.dumps(counts[name]))
        return counts

    def _compare(self, setup: PeerSetup, *, names: list[str], reps: int, timeout: float,
                 counts: dict[str, dict[str, Any]], doc: str | None) -> None:
        from tests.benchmarks import peer
        from tests.benchmarks.scale import write_doc

        try:
            theirs = peer.run_peer(setup, names=names, reps=reps, timeout=timeout)
        except peer.PeerFailed as exc:
            raise CommandError(str(exc)) from exc
        rows = peer.compare(self._measured, theirs)
        for row in rows:
            self.stdout.write(json.dumps(row))
        self.stderr.write(peer.table(rows, counts))
        if doc:
            write_doc(Path(doc), peer.markdown(rows, counts), peer.BEGIN, peer.END)

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
            measured = run_benchmarks([n for n in names if n not in DASHBOARD_WORKLOADS], reps=reps,
                                      timeout=timeout, out=self.stdout)
            self._measured.update(measured)
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
                timeout: float, ui_runs: int, options: dict[str, Any]) -> None:
        argv = [sys.executable, str(_manage_py()), "bench", "--reps", str(reps), "--only", ",".join(names),
                "--database-url", url, "--timeout", str(timeout), "--ui-runs", str(ui_runs),
                "--scale-factor", str(options["scale_factor"]),
                "--scale-workers", options["scale_workers"], "--scale-parts", options["scale_parts"]]
        if worker_threads:
            argv += ["--worker-threads", str(worker_threads)]
        for option in ("peer", "peer_python", "peer_script", "peer_url", "scaling_doc"):
            if options.get(option):
                argv += [f"--{option.replace('_', '-')}", str(options[option])]
        if options.get("no_counts"):
            argv.append("--no-counts")
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


def _worker_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or any(not 1 <= count <= 16 for count in counts):
        raise CommandError(f"--scale-workers takes comma-separated process counts from 1 to 16 (got {text!r})")
    return counts


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
