"""Embedded mode's other processes: a small poll that turns their commits into the same live deltas.

With Redis every process publishes to one channel layer. The in-memory layer of embedded mode only hears the
commits of its own process, so a run cancelled from `manage.py shell`, or executed by a second `manage.py worker`,
never reached an open page while the badge said "live". This poller runs in the serving process, only with the
in-memory layer (slowly while no websocket is open), and looks at three cheap things each POLL_SECONDS:

- runs created since the last look (the `run_created` index), with a few seconds' slack for late commits;
- the runs it knows to be active, by primary key: each change of theirs (a step, an end) bumps their version;
- every RECONCILE_EVERY polls, all active runs (a run another process took from failed back to queued).

A run whose version is above what this process last announced becomes a delta, pushed through the same
publisher as this process's own changes; the pages already resync on a version gap, so one delta per poll
(not one per change) is enough.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from django.db import close_old_connections
from django.utils import timezone

from runs.models import Run
from runs.status import ACTIVE_RUN_STATUSES

logger = logging.getLogger("runs.live")

POLL_SECONDS = 1.0
RECONCILE_EVERY = 10  # polls between two looks at every active run
CREATED_SLACK = timedelta(seconds=5)  # a run is committed a little after its created_at
NEW_RUNS_PER_POLL = 500
_FIELDS = ("id", "root_run_id", "parent_run_id", "app_id", "function_id", "status", "version", "created_at")


class ChangePoller:
    """What this process has announced per run, and the poll that announces what it has not."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._announced: dict[str, tuple[int, str, datetime | None]] = {}  # run id -> (version, status, created)
        self._watermark: datetime | None = None  # newest created_at seen
        self._polls = 0
        self._poll_lock = threading.Lock()  # the poll thread, and a socket priming the first look

    def prime(self) -> None:
        """The first look, before the first socket hears "hello": what is in the database now is what its page
        loaded, so only later changes are announced (a look taken after them would learn them silently)."""
        with self._poll_lock:
            if self._watermark is None:
                self._poll()

    def saw(self, change: dict[str, Any]) -> None:
        """A change this process announced itself (dashboard/live.py): not to be announced again."""
        with self._lock:
            known = self._announced.get(change["id"])
            if known is None or known[0] < change["version"]:
                self._announced[change["id"]] = (change["version"], change["status"], known[2] if known else None)

    def poll(self) -> list[dict[str, Any]]:
        """One look at the database; returns the deltas of changes this process has not announced."""
        with self._poll_lock:
            return self._poll()

    def _poll(self) -> list[dict[str, Any]]:
        now = timezone.now()
        reconcile = self._watermark is None or self._polls % RECONCILE_EVERY == 0
        self._polls += 1
        rows: dict[str, dict[str, Any]] = {}
        since = (self._watermark or now) - CREATED_SLACK
        for row in Run.objects.filter(created_at__gt=since).order_by("created_at").values(*_FIELDS)[:NEW_RUNS_PER_POLL]:
            rows[row["id"]] = row
        with self._lock:
            active = [run_id for run_id, (_, status, _) in self._announced.items() if status in ACTIVE_RUN_STATUSES]
        for start in range(0, len(active), 500):
            for row in Run.objects.filter(id__in=active[start:start + 500]).values(*_FIELDS):
                rows[row["id"]] = row
        if reconcile:
            for row in Run.objects.filter(status__in=ACTIVE_RUN_STATUSES).values(*_FIELDS):
                rows[row["id"]] = row
        first_look = self._watermark is None
        deltas = self._new_deltas(rows.values(), announce=not first_look)
        newest = max((row["created_at"] for row in rows.values() if row["created_at"]), default=None)
        if newest is not None and (self._watermark is None or newest > self._watermark):
            self._watermark = newest
        elif self._watermark is None:
            self._watermark = now
        self._forget(now)
        return deltas

    def _new_deltas(self, rows: Any, *, announce: bool) -> list[dict[str, Any]]:
        deltas = []
        ts = int(time.time() * 1000)
        with self._lock:
            for row in rows:
                known = self._announced.get(row["id"])
                if known is not None and known[0] >= row["version"]:
                    continue
                self._announced[row["id"]] = (row["version"], row["status"], row["created_at"])
                if announce:  # the first look only learns what is there: the pages loaded it themselves
                    deltas.append({key: row[key] for key in _FIELDS if key != "created_at"} | {"ts": ts})
        return deltas

    def _forget(self, now: datetime) -> None:
        """Keep active runs and recent ones (still inside the slack window); forget the rest."""
        cutoff = (self._watermark or now) - CREATED_SLACK * 2
        with self._lock:
            for run_id in [run_id for run_id, (_, status, created) in self._announced.items()
                           if status not in ACTIVE_RUN_STATUSES and (created is None or created < cutoff)]:
                del self._announced[run_id]


POLLER = ChangePoller()
_thread: threading.Thread | None = None
_thread_lock = threading.Lock()


def ensure_polling(listening: Any, publish: Any) -> None:
    """Start the poll thread once. `listening()` says whether a websocket is open (else the poll slows down to
    one look every RECONCILE_EVERY periods); `publish(delta)` hands a delta to the live publisher."""
    global _thread
    with _thread_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_poll_forever, args=(listening, publish), name="runs-live-poll",
                                       daemon=True)
            _thread.start()


def _poll_forever(listening: Any, publish: Any) -> None:
    idle = 0
    while True:
        if listening() or idle >= RECONCILE_EVERY:
            idle = 0
            try:
                for delta in POLLER.poll():
                    publish(delta)
            except Exception:
                logger.exception("polling for other processes' run changes failed")
            finally:
                close_old_connections()
        else:
            idle += 1
        time.sleep(POLL_SECONDS)
