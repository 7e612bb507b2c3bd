"""The worker: threads that claim due runs and execute them, woken by commits instead of a poll interval.

Wake-ups: in-process commits signal a Condition (runs/store/notify.py); commits in other processes reach
this one through PostgreSQL LISTEN/NOTIFY on a dedicated connection. Between wake-ups an idle thread sleeps
until the earliest scheduled run is due (timers, retries, expired leases), at most `idle_poll` seconds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from runs.engine.executor import execute_claimed
from runs.exceptions import LeaseLost
from runs.sdk.app import registered_apps
from runs.store import notify
from runs.store.claims import claim_runs, next_due, renew_leases

logger = logging.getLogger("runs.worker")


class Worker:
    def __init__(self, *, threads: int | None = None, app_ids: Iterable[str] | None = None,
                 idle_poll: float = 2.0, name: str | None = None) -> None:
        self.threads = threads or settings.RUNS_WORKER_THREADS
        self.app_ids = sorted(app_ids) if app_ids is not None else sorted(registered_apps())
        self.idle_poll = idle_poll
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._held: set[str] = set()
        self._held_lock = threading.Lock()

    # --- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        for index in range(self.threads):
            self._spawn(self._execute_loop, f"runs-executor-{index}")
        self._spawn(self._heartbeat_loop, "runs-heartbeat")
        if connection.vendor == "postgresql":
            self._spawn(self._listen_loop, "runs-listener")

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        notify.wake_local()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def request_stop(self) -> None:
        """Ask the worker to stop (safe from a signal handler); run_forever returns soon after."""
        self._stopping.set()

    def run_forever(self) -> None:
        self.start()
        try:
            while not self._stopping.wait(1.0):
                pass
        finally:
            self.stop()

    def _spawn(self, target: object, name: str) -> None:
        def run() -> None:
            try:
                target()  # type: ignore[operator]
            finally:
                connection.close()  # each thread owns its connection; pytest-django drops the database later

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # --- executing --------------------------------------------------------------------------------------

    def _execute_loop(self) -> None:
        while not self._stopping.is_set():
            seen = notify.generation()
            try:
                claims = claim_runs(self.name, self.app_ids, limit=1)
            except Exception:
                logger.exception("claiming runs failed")
                close_old_connections()
                self._stopping.wait(0.5)
                continue
            if not claims:
                self._idle(seen)
                continue
            for claim in claims:
                self._hold(claim.lease_owner, True)
                try:
                    execute_claimed(claim)
                except LeaseLost as exc:
                    logger.warning("%s", exc)
                except Exception:
                    # The lease expires and another attempt replays the run; nothing half-written stays.
                    logger.exception("executing run %s failed", claim.id)
                    close_old_connections()
                finally:
                    self._hold(claim.lease_owner, False)

    def _idle(self, seen: int) -> None:
        timeout = self.idle_poll
        try:
            due = next_due()
        except Exception:
            due = None
        if due is not None:
            timeout = max(0.0, min(timeout, (due - timezone.now()).total_seconds()))
        if timeout > 0:
            notify.wait_for_wakeup(seen, timeout)

    def _hold(self, token: str, held: bool) -> None:
        with self._held_lock:
            (self._held.add if held else self._held.discard)(token)

    def _heartbeat_loop(self) -> None:
        interval = max(0.2, settings.RUNS_LEASE_SECONDS / 3)
        while not self._stopping.wait(interval):
            with self._held_lock:
                tokens = list(self._held)
            try:
                renew_leases(tokens)
            except Exception:
                logger.exception("renewing leases failed")
                close_old_connections()

    # --- wake-ups from other processes --------------------------------------------------------------------

    def _listen_loop(self) -> None:
        import psycopg

        params = connection.settings_dict
        conninfo = {"dbname": params["NAME"], "user": params.get("USER") or None,
                    "password": params.get("PASSWORD") or None, "host": params.get("HOST") or None,
                    "port": params.get("PORT") or None}
        while not self._stopping.is_set():
            try:
                with psycopg.connect(autocommit=True, **{k: v for k, v in conninfo.items() if v}) as listener:
                    listener.execute(f"LISTEN {notify.CHANNEL}")
                    notify.wake_local()  # anything committed before LISTEN took effect is seen now
                    while not self._stopping.is_set():
                        for _ in listener.notifies(timeout=0.5, stop_after=1):
                            notify.wake_local()
            except Exception:
                if not self._stopping.is_set():
                    logger.exception("LISTEN connection failed; reconnecting")
                    self._stopping.wait(1.0)
