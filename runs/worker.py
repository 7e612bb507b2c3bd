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
import time
import uuid
from collections import deque
from collections.abc import Iterable

from django.db import close_old_connections, connection
from django.utils import timezone

from runs import conf
from runs.domain import ClaimedRun
from runs.engine.driver import close_thread_loop
from runs.engine.executor import execute_claimed
from runs.engine.http_driver import close_thread_client
from runs.exceptions import LeaseLost
from runs.sdk.app import registered_apps
from runs.store import metrics as metrics_store
from runs.store import notify
from runs.store import passes as pass_store
from runs.store import workers as worker_store
from runs.store.backends import backend
from runs.store.claims import claim_runs, next_due, release, renew_leases
from runs.store.prune import prune_if_due
from runs.store.sdk_apps import sdk_app_ids

logger = logging.getLogger("runs.worker")

MIN_IDLE_WAIT = 0.01  # seconds
CLAIMS_PER_THREAD = 3  # the default claim batch per executor thread (RUNS_CLAIM_BATCH)
PRUNE_LOOK_SECONDS = 60.0
METRICS_ROLL_UP_SECONDS = 60.0  # a minute is rolled up SETTLE_MINUTES after it ends (runs/store/metrics.py)
REGISTER_WAIT_SECONDS = 10.0  # at most this long (a database that does not answer) before claiming anyway
SDK_APPS_READ_SECONDS = 2.0  # how stale a worker's list of SDK apps may get (a newly synced app waits this long)


class Worker:
    def __init__(self, *, threads: int | None = None, app_ids: Iterable[str] | None = None,
                 idle_poll: float = 2.0, name: str | None = None, claim_batch: int | None = None,
                 sdk_apps: bool | None = None) -> None:
        self.threads = threads or conf.get("RUNS_WORKER_THREADS")
        # Runs claimed per query: fewer claim round trips under load, while leases keep them from others.
        self.claim_batch = claim_batch or conf.get("RUNS_CLAIM_BATCH") or CLAIMS_PER_THREAD * self.threads
        self.native_app_ids = sorted(app_ids) if app_ids is not None else sorted(registered_apps())
        self.app_ids = self.native_app_ids
        # Also claim the runs of apps served by Inngest SDKs over HTTP (any worker can call them): by default
        # unless the worker was given its apps explicitly. Their list is read again every few seconds.
        self.sdk_apps = app_ids is None if sdk_apps is None else sdk_apps
        self._apps_read_at = float("-inf")
        self._apps_lock = threading.Lock()
        self.idle_poll = idle_poll
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._backlog: deque[ClaimedRun] = deque()  # claimed in a batch, not yet taken by a thread
        self._backlog_lock = threading.Lock()
        self._held: dict[str, int] = {}  # lease tokens this worker holds (a batch shares one), counted
        self._held_lock = threading.Lock()
        # For the workers page (runs/store/workers.py): counted here, written once per heartbeat.
        self._running: dict[str, int] = {}  # run ids executing now, counted (a chain may re-take one)
        self._runs_done = 0
        self._registered = threading.Event()  # executors claim only once the worker's row is written (or failed)

    # --- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        for index in range(self.threads):
            self._spawn(self._execute_loop, f"runs-executor-{index}")
        self._spawn(self._heartbeat_loop, "runs-heartbeat")
        if conf.get("RUNS_PRUNE_OLDER_THAN"):
            self._spawn(self._prune_loop, "runs-pruner")  # its own thread: a long prune never delays renewals
        if backend().delivers_notifications:
            self._spawn(self._listen_loop, "runs-listener")
        self._spawn(self._metrics_loop, "runs-metrics")

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._registered.set()  # executors still waiting for the registration look at _stopping instead
        notify.wake_all()
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
                close_thread_loop()
                close_thread_client()  # its keep-alive connections to SDK apps
                connection.close()  # each thread owns its connection; pytest-django drops the database later

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # --- executing --------------------------------------------------------------------------------------

    def _execute_loop(self) -> None:
        self._registered.wait(REGISTER_WAIT_SECONDS)  # so no run is executed by a worker the page cannot show
        while not self._stopping.is_set():
            queued = self._take_backlog()
            if queued is not None:
                self._execute_held(queued)
                continue
            seen = notify.generation()
            try:
                self._refresh_sdk_apps()
                claims = claim_runs(self.name, self.app_ids, limit=self.claim_batch)
            except Exception:
                logger.exception("worker %s: claiming runs failed", self.name)
                close_old_connections()
                self._stopping.wait(0.5)
                continue
            if not claims:
                self._idle(seen)
                continue
            for claim in claims:
                self._hold(claim.lease_owner)  # held until executed: the heartbeat renews the batch's lease
            first, rest = claims[0], claims[1:]
            if rest:
                # The rest of the batch goes to idle threads of this worker, not after this one's runs.
                with self._backlog_lock:
                    self._backlog.extend(rest)
            # More may be due, or waiting in the backlog: let idle threads look, as this one is busy now.
            notify.wake_local(1 + len(rest))
            self._execute_held(first)
        for claim in self._drain_backlog():
            release(claim)  # stopping: give claimed but unexecuted runs back at once
            self._hold_release(claim.lease_owner)

    def _refresh_sdk_apps(self) -> None:
        if not self.sdk_apps or time.monotonic() - self._apps_read_at < SDK_APPS_READ_SECONDS:
            return
        with self._apps_lock:
            if time.monotonic() - self._apps_read_at < SDK_APPS_READ_SECONDS:
                return
            self._apps_read_at = time.monotonic()
            self.app_ids = sorted({*self.native_app_ids, *sdk_app_ids()})

    def _execute_held(self, claim: ClaimedRun) -> None:
        try:
            self._execute_chain(claim)
        finally:
            self._hold_release(claim.lease_owner)

    def _take_backlog(self) -> ClaimedRun | None:
        with self._backlog_lock:
            return self._backlog.popleft() if self._backlog else None

    def _drain_backlog(self) -> list[ClaimedRun]:
        with self._backlog_lock:
            drained = list(self._backlog)
            self._backlog.clear()
            return drained

    def _execute_chain(self, claim: ClaimedRun | None) -> None:
        """Execute a claimed run, then whatever run its commit handed to this thread, and so on."""
        while claim is not None and not self._stopping.is_set():
            token = claim.lease_owner
            self._hold(token)
            running = f"run {claim.id} ({claim.app_id}/{claim.function_id})"
            run_id = claim.id
            self._track(run_id, 1)
            try:
                claim = execute_claimed(claim, pass_store)
            except LeaseLost as exc:
                logger.warning("%s: %s", running, exc)
                self._abandon_handover()
                claim = None
            except Exception:
                # The lease expires and another attempt replays the run; nothing half-written stays.
                logger.exception("%s: executing it failed; it is replayed when its lease expires", running)
                self._abandon_handover()
                close_old_connections()
                claim = None
            finally:
                self._hold_release(token)
                self._track(run_id, -1)
        if claim is not None:
            try:
                pass_store.settle_handover()  # the hop that handed it over commits first
                release(claim)  # stopping: give the handed-over run back at once rather than at lease expiry
            except LeaseLost:
                pass  # the hop no longer applies: the run is not this worker's

    def _abandon_handover(self) -> None:
        """A pass sharing its hop's transaction failed: the hop is written again alone (runs/store/handovers)."""
        try:
            pass_store.abandon_handover()
        except Exception:
            logger.exception("worker %s: writing a hop again after its handed pass failed did not work; its runs "
                             "are replayed when their leases expire", self.name)

    def _idle(self, seen: int) -> None:
        timeout = self.idle_poll
        try:
            due = next_due(self.app_ids)
        except Exception:
            due = None
        if due is not None:
            # At least a moment: a run due now that this claim did not get is another worker's (SKIP LOCKED).
            timeout = max(MIN_IDLE_WAIT, min(timeout, (due - timezone.now()).total_seconds()))
        notify.wait_for_wakeup(seen, timeout)

    def _hold(self, token: str) -> None:
        with self._held_lock:
            self._held[token] = self._held.get(token, 0) + 1

    def _hold_release(self, token: str) -> None:
        with self._held_lock:
            if self._held.get(token, 0) <= 1:
                self._held.pop(token, None)
            else:
                self._held[token] -= 1

    def _track(self, run_id: str, delta: int) -> None:
        with self._held_lock:
            count = self._running.get(run_id, 0) + delta
            if count > 0:
                self._running[run_id] = count
            else:
                self._running.pop(run_id, None)
            if delta < 0:
                self._runs_done += 1

    def _register(self) -> None:
        try:
            worker_store.register(self.name, host=socket.gethostname(), pid=os.getpid(), threads=self.threads,
                                  app_ids=self.app_ids)
        except Exception:  # the workers page is a view: a failure to register must not stop the worker
            logger.exception("worker %s: registering it failed; the next heartbeat tries again", self.name)
            close_old_connections()

    def _heartbeat_loop(self) -> None:
        interval = max(0.2, conf.get("RUNS_LEASE_SECONDS") / 3)
        # The worker's row is written from this thread only (its own connection, never a caller's transaction).
        self._register()
        self._registered.set()
        while not self._stopping.wait(interval):
            with self._held_lock:
                tokens = list(self._held)
            try:
                renew_leases(tokens)  # retried through transient errors; never waits on a row lock
            except Exception:
                logger.exception("worker %s: renewing the leases of %d claims failed; trying again at the next "
                                 "beat", self.name, len(tokens))
                close_old_connections()
            self._beat()
        try:
            worker_store.mark_stopped(self.name, runs_done=self._runs_done)
        except Exception:
            logger.exception("worker %s: marking it stopped failed; it shows as dead soon", self.name)

    def _beat(self) -> None:
        """One UPDATE of this worker's row, after the renewals (leases come first)."""
        with self._held_lock:
            running, done = list(self._running), self._runs_done
        with self._backlog_lock:
            running += [claim.id for claim in self._backlog]
        try:
            if not worker_store.beat(self.name, app_ids=self.app_ids, runs_done=done, held_run_ids=running):
                self._register()  # registering at start failed (or the row was deleted): try again now
        except Exception:
            logger.exception("worker %s: writing its heartbeat row failed; trying again at the next beat",
                             self.name)
            close_old_connections()

    def _prune_loop(self) -> None:
        """Data retention (RUNS_PRUNE_OLDER_THAN): at most one prune an hour per database, whichever worker
        takes the turn (runs/store/prune.py); looked at every minute."""
        while not self._stopping.wait(PRUNE_LOOK_SECONDS):
            try:
                result = prune_if_due()
            except Exception:
                logger.exception("worker %s: pruning old runs failed; trying again within the hour", self.name)
                close_old_connections()
                continue
            if result is not None:
                logger.info("worker %s: prune: %s", self.name, result.summary())

    def _metrics_loop(self) -> None:
        """Roll the metrics up every minute (runs/store/metrics.py), so that the minutes are counted even when
        nobody looks at them before retention prunes their runs; pages and scrapes roll up too."""
        while not self._stopping.wait(METRICS_ROLL_UP_SECONDS):
            try:
                metrics_store.roll_up()
            except Exception:
                logger.exception("worker %s: rolling up the metrics failed; trying again in a minute", self.name)
                close_old_connections()

    # --- wake-ups from other processes --------------------------------------------------------------------

    def _listen_loop(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                with backend().listening(connection, notify.CHANNEL) as received:
                    delay = 0.1
                    notify.wake_all()  # anything committed before LISTEN took effect (or while down) is seen now
                    while not self._stopping.is_set():
                        for payload in received(0.5):
                            if payload != notify.PROCESS_TOKEN:
                                notify.wake_local()
            except Exception as exc:
                if not self._stopping.is_set():
                    # A restart or a network fault: reconnect with backoff; idle threads still poll meanwhile.
                    logger.warning("worker %s: LISTEN connection failed (%s); reconnecting in %.1f s", self.name,
                                   str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                                   delay)
                    self._stopping.wait(delay)
                    delay = min(delay * 2, 5.0)
