"""`manage.py worker` subprocesses against the test database, for the integration tests.

Each worker's stdout and stderr go to a log file; `worker_fleet` kills every worker it started when the block
ends, whatever happened, and prints their logs (pytest shows captured output for failing tests only).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 1.5  # a killed worker's runs become claimable again this soon

# Worker processes cooperate only through PostgreSQL (SKIP LOCKED claims, LISTEN/NOTIFY wake-ups).
requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason=f"needs PostgreSQL (set DATABASE_URL=postgres://...): worker subprocesses share the test database; "
           f"this run uses {connection.vendor}",
)


def database_url_for_workers() -> str:
    """The URL of the database pytest-django created (its NAME is the test database, not the dev one)."""
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(params['NAME']).resolve()}"
    user = quote(params.get("USER") or "", safe="")
    password = quote(params.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = params.get("HOST") or ""
    port = f":{params['PORT']}" if params.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(params['NAME'], safe='')}"


class WorkerProcess:
    """One `python manage.py worker [args]` subprocess."""

    def __init__(self, name: str, log_path: Path, env: dict[str, str], *args: str) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "worker", *args], cwd=ROOT, env=env,
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def is_alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the worker printed its start line (functions synced, threads about to start)."""
        wait_until(lambda: " functions of apps " in self.log(), timeout,
                   f"worker {self.name} did not start", self)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no lease release; like a machine losing power."""
        if self.is_alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait for a clean exit; SIGKILL if it does not come."""
        if self.is_alive():
            self.proc.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        self.kill()


class WorkerFleet:
    def __init__(self, log_dir: Path, function_modules: list[str]) -> None:
        self.log_dir = log_dir
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url_for_workers(),
            "RUNS_FUNCTION_MODULES": ",".join(function_modules),
            "RUNS_LEASE_SECONDS": str(LEASE_SECONDS),
            "RUNS_RETRY_BASE_SECONDS": "0.01",
            "RUNS_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        self.workers: list[WorkerProcess] = []

    def start(self, *args: str) -> WorkerProcess:
        name = f"worker-{len(self.workers) + 1}"
        worker = WorkerProcess(name, self.log_dir / f"{name}.log", self.env, *args)
        self.workers.append(worker)
        return worker

    def assert_alive(self, *workers: WorkerProcess) -> None:
        for worker in workers:
            assert worker.is_alive(), f"{worker.name} exited with {worker.proc.returncode}:\n{worker.log()}"

    def print_logs(self) -> None:
        for worker in self.workers:
            print(f"----- {worker.name} (pid {worker.pid}, exit {worker.proc.returncode}) {worker.log_path}")
            print(worker.log())


@contextmanager
def worker_fleet(log_dir: Path, function_modules: list[str]) -> Iterator[WorkerFleet]:
    fleet = WorkerFleet(log_dir, function_modules)
    try:
        yield fleet
    finally:
        for worker in fleet.workers:
            worker.stop()
        fleet.print_logs()


def wait_until(condition: Callable[[], bool], timeout: float, message: str,
               *watched: WorkerProcess) -> None:
    """Poll `condition` until true; fail after `timeout` s, or at once if a watched worker died."""
    deadline = time.monotonic() + timeout
    while not condition():
        for worker in watched:
            assert worker.is_alive(), f"{message}: {worker.name} exited with {worker.proc.returncode}"
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} within {timeout} s")
        time.sleep(0.02)
