"""Runs started directly by code rather than by an event trigger (the Django Tasks backend, runs/tasks), and
read back with what their callers report: who holds them and when they started and ended.

No event is stored for such a run: like an invoked child, it carries its own input as its event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from runs.ids import new_id
from runs.models import Function, Run
from runs.store import notify
from runs.store.claims import worker_of
from runs.store.rows import new_run, publish_new_runs

MAX_RUN_ID_CHARS = 32  # Run.id


def start_run(*, app_id: str, function_id: str, config: dict[str, Any], event_name: str, data: dict[str, Any],
              ready_at: datetime | None = None) -> DirectRun:
    """Start one run of a function, due at `ready_at` (now if None); returns it, queued.

    One transaction (the caller's, if it has one: a rolled-back enqueue leaves nothing) registers the function
    if no worker has yet, so invokes and the dashboard's function list find it, and inserts the queued run.
    `data` must be JSON already (the caller checked it)."""
    now = timezone.now()
    event = {"id": new_id(), "name": event_name, "data": data, "user": {}, "ts": int(now.timestamp() * 1000)}
    run = new_run(app_id=app_id, function_id=function_id, event=event, now=now)
    run.ready_at = ready_at or now
    with transaction.atomic():
        # DO NOTHING on conflict: a worker's sync owns an existing row's configuration, and no row lock is held.
        Function.objects.bulk_create([Function(app_id=app_id, function_id=function_id, config=config)],
                                     ignore_conflicts=True)
        run.save(force_insert=True)
        publish_new_runs([run])
        # Also for a later due time: idle workers then look again at when the next run is due.
        notify.runs_ready()
    return _direct(run)


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectRun:
    """A run as a direct caller sees it: its input, outcome and times, and whether a worker holds it now."""

    id: str
    app_id: str
    function_id: str
    status: str
    status_reason: str
    data: dict[str, Any]
    output: Any
    error: dict[str, Any] | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    worker: str | None  # the worker executing it now, if one is

    @property
    def held(self) -> bool:
        return self.worker is not None


def read_run(run_id: str, app_id: str) -> DirectRun | None:
    """The run of app `app_id` with that id, or None (no such run, another app's, or not an id at all)."""
    if not (isinstance(run_id, str) and 0 < len(run_id) <= MAX_RUN_ID_CHARS and run_id.isascii()
            and run_id.isalnum()):
        return None  # no such run: these ids are ASCII letters and digits (and PostgreSQL refuses a NUL)
    run = Run.objects.filter(id=run_id, app_id=app_id).first()
    return _direct(run) if run is not None else None


def _direct(run: Run) -> DirectRun:
    return DirectRun(id=run.id, app_id=run.app_id, function_id=run.function_id, status=run.status,
                     status_reason=run.status_reason, data=run.event_data or {}, output=run.output,
                     error=run.error, attempts=run.attempts, created_at=run.created_at, started_at=run.started_at,
                     ended_at=run.ended_at, worker=worker_of(run.lease_owner) if run.lease_owner else None)
