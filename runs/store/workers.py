"""Worker processes: registered on start, one UPDATE per heartbeat, marked stopped on a clean stop.

The store owns these writes; runs/worker.py calls them. Counts (runs done, in flight) are kept in the worker's
memory and written at its beat, so executing a run costs no extra statement. A worker whose last heartbeat is
older than two leases and that never said it stopped is dead; the runs it held are the ones it named at its
last beat (looked up by primary key, so a dead worker costs no scan of the runs table).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Subquery
from django.utils import timezone

from runs import conf
from runs.models import Run, WorkerProcess
from runs.store.transient import retrying

MAX_HELD_IDS = 200  # run ids written per beat: enough to name what a dead worker held, bounded per row


def register(name: str, *, host: str, pid: int, threads: int, app_ids: Sequence[str]) -> None:
    now = timezone.now()
    retrying(lambda: WorkerProcess.objects.update_or_create(id=name, defaults={
        "host": host[:255], "pid": pid, "threads": threads, "app_ids": list(app_ids), "started_at": now,
        "last_heartbeat": now, "runs_done": 0, "in_flight": 0, "held_run_ids": [], "stopped_at": None}),
        f"registering worker {name}")


def beat(name: str, *, app_ids: Sequence[str], runs_done: int, held_run_ids: Sequence[str]) -> bool:
    """The heartbeat's one UPDATE: liveness, counts, and the oldest due run of its apps (claim lag).
    False if the worker has no row (its registration failed)."""
    def update() -> bool:
        now = timezone.now()
        oldest = (Run.objects.filter(ready_at__isnull=False, ready_at__lte=now, app_id__in=list(app_ids))
                  .order_by("ready_at").values("ready_at")[:1])
        return bool(WorkerProcess.objects.filter(id=name).update(
            last_heartbeat=now, runs_done=runs_done, in_flight=len(held_run_ids), app_ids=list(app_ids),
            held_run_ids=list(held_run_ids)[:MAX_HELD_IDS],
            oldest_due_at=Subquery(oldest) if app_ids else None))

    return retrying(update, f"heartbeat of worker {name}")


def mark_stopped(name: str, *, runs_done: int) -> None:
    now = timezone.now()
    retrying(lambda: WorkerProcess.objects.filter(id=name).update(
        stopped_at=now, last_heartbeat=now, runs_done=runs_done, in_flight=0, held_run_ids=[]),
        f"marking worker {name} stopped")


# --- reads -----------------------------------------------------------------------------------------------

def dead_after() -> timedelta:
    return timedelta(seconds=conf.get("RUNS_LEASE_SECONDS") * 2)


@dataclass
class HeldRun:
    id: str
    function_id: str
    status: str
    back: bool  # no longer leased to the dead worker: claimed by another one, or ended
    now_owner: str  # the worker that holds it now ("" if none)


@dataclass
class WorkerInfo:
    id: str
    host: str
    pid: int
    threads: int
    apps: list[str]
    started_at: datetime
    last_heartbeat: datetime
    in_flight: int
    runs_done: int
    claim_lag_seconds: float | None
    state: str  # live, dead, stopped
    died_at: datetime | None = None
    stopped_at: datetime | None = None
    held: list[HeldRun] = field(default_factory=list)


def list_workers(*, include_gone: bool = False, limit: int = 200) -> list[WorkerInfo]:
    """Live workers (heartbeat within two leases, not stopped); with include_gone, dead and stopped ones too,
    the dead with the runs they held. Newest heartbeat first."""
    now = timezone.now()
    rows = WorkerProcess.objects.order_by("-last_heartbeat")
    if not include_gone:
        rows = rows.filter(stopped_at__isnull=True, last_heartbeat__gte=now - dead_after())
    fetched = list(rows[:limit])
    infos = [_info(row, now) for row in fetched]
    dead = [info for info in infos if info.state == "dead"]
    if dead:
        _attach_held(dead, {row.id: list(row.held_run_ids or []) for row in fetched})
    return infos


def count_live() -> int:
    """How many workers are live (as list_workers counts them), in one COUNT: Prometheus' tributary_workers."""
    return WorkerProcess.objects.filter(stopped_at__isnull=True,
                                        last_heartbeat__gte=timezone.now() - dead_after()).count()


def _info(row: WorkerProcess, now: datetime) -> WorkerInfo:
    if row.stopped_at is not None:
        state = "stopped"
    elif row.last_heartbeat < now - dead_after():
        state = "dead"
    else:
        state = "live"
    lag = None
    if row.oldest_due_at is not None:
        lag = max(0.0, (row.last_heartbeat - row.oldest_due_at).total_seconds())
    return WorkerInfo(id=row.id, host=row.host, pid=row.pid, threads=row.threads, apps=list(row.app_ids or []),
                      started_at=row.started_at, last_heartbeat=row.last_heartbeat, in_flight=row.in_flight,
                      runs_done=row.runs_done, claim_lag_seconds=lag, state=state,
                      died_at=row.last_heartbeat if state == "dead" else None, stopped_at=row.stopped_at)


def _attach_held(dead: list[WorkerInfo], held_ids: dict[str, list[str]]) -> None:
    ids = {run_id for run_ids in held_ids.values() for run_id in run_ids}
    runs = {run.id: run for run in Run.objects.filter(id__in=ids).only("id", "function_id", "status",
                                                                       "lease_owner")}
    for info in dead:
        for run_id in held_ids.get(info.id, []):
            run = runs.get(run_id)
            if run is None:  # pruned since
                continue
            owner = run.lease_owner or ""
            mine = owner.startswith(f"{info.id}:")
            info.held.append(HeldRun(id=run.id, function_id=run.function_id, status=run.status, back=not mine,
                                     now_owner="" if mine or not owner else owner.rsplit(":", 1)[0]))
