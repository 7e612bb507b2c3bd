"""Small row-level helpers shared by the store modules (always called inside a transaction)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection

from runs.ids import new_id
from runs.models import Run
from runs.status import ACTIVE_RUN_STATUSES, RunStatus, StepStatus
from runs.store import changes, notify, sql


@dataclass(frozen=True, slots=True, kw_only=True)
class ParentLink:
    """The invoke step a child run answers to."""

    run_id: str
    step_id: str
    root_run_id: str
    depth: int
    step_attempt: int = 0


def new_run(*, app_id: str, function_id: str, event: dict[str, Any], now: datetime,
            parent: ParentLink | None = None, triggered_by_run_id: str | None = None,
            run_id: str | None = None) -> Run:
    """An unsaved queued run, ready to be claimed at once."""
    run_id = run_id or new_id()
    return Run(
        id=run_id, app_id=app_id, function_id=function_id, status=RunStatus.QUEUED,
        event_id=event["id"], event_name=event["name"], event_data=event["data"], event_user=event["user"],
        event_ts=event["ts"],
        parent_run_id=parent.run_id if parent else None, parent_step_id=parent.step_id if parent else None,
        parent_step_attempt=parent.step_attempt if parent else 0,
        root_run_id=parent.root_run_id if parent else run_id, depth=parent.depth + 1 if parent else 0,
        triggered_by_run_id=triggered_by_run_id, ready_at=now, created_at=now,
    )


def wake(run_ids: Iterable[str], now: datetime) -> None:
    """Make runs replay at once if no worker holds them, else when their holder commits (the holder sees
    `wakeups` changed and replays again)."""
    # One row at a time in id order: two transactions waking overlapping runs lock them in the same order.
    made_due = [_take_and_wake(run_id, sql.WAKE_NOW_DUE, [_adapt(now)]) for run_id in sorted(set(run_ids))]
    if any(made_due):
        notify.runs_ready()


# A parent whose invoke resolved while other steps of it still wait is replayed a little later, so that a
# fan-out of many children finishing together replays the parent a few times, not once per child.
COALESCE_WAKEUPS = timedelta(milliseconds=100)


def wake_resumed(run_id: str, now: datetime) -> None:
    """Wake a run one of whose steps just resolved: at once if nothing else of it waits, else a little later
    (coalescing), in one statement; a holder mid-pass sees `wakeups` changed and replays again."""
    due_params = [StepStatus.WAITING.value, _adapt(now + COALESCE_WAKEUPS), _adapt(now)]
    if _take_and_wake(run_id, sql.WAKE_RESUMED_DUE, due_params):
        notify.runs_ready()


def _take_and_wake(run_id: str, due: str, due_params: list[Any]) -> bool:
    """Count a wake-up on the run's row, always: the write takes the row's lock, which orders it with claims.

    Skipping runs that look due already loses wake-ups: a worker claiming the run meanwhile reads its steps
    before the resolving transaction commits, suspends it on stale steps, and nothing wakes it again. The
    counted wake-up makes that worker's suspend see `wakeups` changed and replay at once. An unheld run becomes
    due at `due`, or stays due earlier if it already is; a held run keeps its lease's expiry. Returns whether
    the run is now due and unheld (only then do idle workers elsewhere need telling).
    """
    statuses = [str(status) for status in ACTIVE_RUN_STATUSES]
    with connection.cursor() as cursor:
        cursor.execute(sql.wake(due, len(statuses)), [*due_params, *due_params, run_id, *statuses, *due_params])
        row = cursor.fetchone()
    return bool(row and row[0])


def _adapt(moment: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


def run_delta(run: Any, status: str, version: int) -> dict[str, Any]:
    """What the store announces of a changed run (runs/store/changes.py; the dashboard's live updates send it)."""
    return {"id": run.id, "root_run_id": run.root_run_id, "parent_run_id": run.parent_run_id,
            "app_id": run.app_id, "function_id": run.function_id, "status": status, "version": version}


def publish_new_runs(runs: Iterable[Run]) -> None:
    for run in runs:
        changes.run_changed(run_delta(run, run.status, run.version))
