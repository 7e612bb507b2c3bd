"""Run metrics (issue 11 item 12): runs started, completed, failed and cancelled, and a histogram of durations,
per function and minute; the backlog of due runs nobody has claimed.

Counting a week of runs at read time is too slow at a million runs (a scan of every run of the week), so closed
minutes are rolled up into RunMetricsMinute (a few rows per function and minute) and RunMetricsTotal (the
running totals Prometheus scrapes). Readers roll up first (one INSERT ... SELECT over the runs of the minutes
since the last roll-up, usually one or two), then read the rolled-up minutes plus the runs of the minutes not
yet rolled up, in one statement. A minute is rolled up SETTLE_MINUTES after it ends, so that the runs which
started or ended in it have committed. Facts of a minute do not change once it has passed: a run's start and
end are written when they happen, and a retried run's new end falls in a later minute. Durations are the last
attempt's (a retried run counts with its own attempt, not the minutes since its first start).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from runs.models import (
    DURATION_BOUNDS_MS,
    DURATION_COLUMNS,
    RunMetricsMinute,
    RunMetricsRollup,
    RunMetricsTotal,
)
from runs.store import sql
from runs.store.backends import backend
from runs.store.transient import retrying

SETTLE_MINUTES = 2
BACKFILL_MINUTES = 7 * 24 * 60  # the first roll-up counts the last week (the longest chart)
KEEP_MINUTES = 8 * 24 * 60
COUNTERS = ("started", "completed", "failed", "cancelled", "duration_ms", *DURATION_COLUMNS)
_FUTURE = timedelta(days=1)  # the upper end of "not yet rolled up"
_MARK = 1  # the primary key of the one RunMetricsRollup row: two first roll-ups at once cannot both create it


def epoch_minute(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def minute_start(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz=UTC)


def _statement(template: str, **extra: str) -> str:
    """A metrics statement of runs/store/sql.py with the counters and this database's run facts filled in."""
    db = backend()
    facts = sql.metrics_facts(
        started_minute=db.epoch_minute("started_at"), ended_minute=db.epoch_minute("ended_at"),
        duration_ms=db.milliseconds_between(f"COALESCE({db.last_attempt_start()}, started_at)", "ended_at"),
        counters=COUNTERS, bounds=DURATION_BOUNDS_MS)
    sums = ", ".join(f"SUM({name}) AS {name}" for name in COUNTERS)
    return template.format(counters=", ".join(COUNTERS), sums=sums, facts=facts, **extra)


def _facts_params(start: datetime, end: datetime) -> list[Any]:
    adapt = connection.ops.adapt_datetimefield_value
    return [adapt(start), adapt(end)] * 2


def _rows(statement: str, params: list[Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return sql.named_rows(cursor)


# --- the roll-up (the only writes) -------------------------------------------------------------------------

class _Overtaken(Exception):
    """Another process rolled up the same minutes first."""


def roll_up(now: datetime | None = None) -> int:
    """Roll up every closed minute not rolled up yet; returns the minute the roll-up has reached (every minute
    before it is in RunMetricsMinute)."""
    target = epoch_minute(now or timezone.now()) - SETTLE_MINUTES
    return retrying(lambda: _roll_up_once(target), "rolling up run metrics")


def _roll_up_once(target: int) -> int:
    mark = RunMetricsRollup.objects.filter(id=_MARK).first()
    if mark is not None and mark.rolled_to >= target:  # the usual read: up to date, no transaction needed
        return mark.rolled_to
    try:
        with transaction.atomic():
            mark = RunMetricsRollup.objects.filter(id=_MARK).first()
            start = mark.rolled_to if mark is not None else target - BACKFILL_MINUTES
            if start >= target:
                return start
            with connection.cursor() as cursor:
                cursor.execute(_statement(sql.METRICS_ROLL_UP),
                               _facts_params(minute_start(start), minute_start(target)))
                # The minute of all functions together: the overall chart of a week reads 10,080 rows, not
                # 10,080 per function.
                cursor.execute(_statement(sql.METRICS_ROLL_UP_ALL), [start, target])
            _add_to_totals(start, target)
            if mark is None:
                RunMetricsRollup.objects.create(id=_MARK, rolled_to=target)
            elif not RunMetricsRollup.objects.filter(id=_MARK, rolled_to=start).update(rolled_to=target):
                raise _Overtaken
            RunMetricsMinute.objects.filter(minute__lt=target - KEEP_MINUTES).delete()
            return target
    except (_Overtaken, IntegrityError):  # the other process's roll-up counted these minutes: nothing is lost
        mark = RunMetricsRollup.objects.filter(id=_MARK).first()
        return mark.rolled_to if mark is not None else target


def _add_to_totals(start: int, end: int) -> None:
    for row in _rows(_statement(sql.METRICS_ADDED), [start, end]):  # one per function that ran in these minutes
        added = {name: row[name] for name in COUNTERS}
        total, created = RunMetricsTotal.objects.get_or_create(app_id=row["app_id"], function_id=row["function_id"],
                                                               defaults=added)
        if not created:
            RunMetricsTotal.objects.filter(id=total.id).update(
                **{name: F(name) + value for name, value in added.items() if value})


# --- reads -------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """One chart point: the bucket starting at `minute` (epoch minutes)."""
    minute: int
    started: int
    completed: int
    failed: int
    cancelled: int
    durations: tuple[int, ...]  # counts per DURATION_COLUMNS


def series(*, first_minute: int, bucket_minutes: int, function: tuple[str, str] | None = None,
           now: datetime | None = None) -> list[Point]:
    """Points of `bucket_minutes` from the bucket holding `first_minute` to now (only buckets with runs), from
    one statement: rolled-up minutes, plus the runs of the minutes not rolled up yet."""
    now = now or timezone.now()
    mark = roll_up(now)
    first = (first_minute // bucket_minutes) * bucket_minutes
    app_id, function_id = function or ("", "")  # rolled-up minutes of all functions have empty ids
    one = list(function) if function else []
    statement = _statement(sql.METRICS_SERIES, function=sql.METRICS_ONE_FUNCTION if function else "")
    params = [bucket_minutes, first, mark, app_id, function_id,
              *_facts_params(minute_start(max(mark, first)), now + _FUTURE), first, *one, bucket_minutes]
    return [Point(minute=int(row["bucket"]) * bucket_minutes, started=int(row["started"] or 0),
                  completed=int(row["completed"] or 0), failed=int(row["failed"] or 0),
                  cancelled=int(row["cancelled"] or 0),
                  durations=tuple(int(row[name] or 0) for name in DURATION_COLUMNS))
            for row in _rows(statement, params)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Backlog:
    runs: int  # due (ready_at has passed) and not claimed by any worker
    oldest_due_at: datetime | None


def backlog(function: tuple[str, str] | None = None, now: datetime | None = None) -> Backlog:
    """Due runs nobody has claimed: a claim moves ready_at to the lease's expiry, so a due ready_at is a run
    waiting for a worker (or one whose worker died and whose lease ran out). One query (the run_ready index)."""
    statement = sql.METRICS_BACKLOG.format(function=sql.METRICS_ONE_FUNCTION if function else "")
    [row] = _rows(statement, [connection.ops.adapt_datetimefield_value(now or timezone.now()),
                              *(function or ())])
    oldest = row["oldest"]
    if isinstance(oldest, str):  # SQLite hands back text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and timezone.is_naive(oldest):
        oldest = timezone.make_aware(oldest, UTC)
    return Backlog(runs=int(row["runs"]), oldest_due_at=oldest)


@dataclass(frozen=True, slots=True, kw_only=True)
class Totals:
    app_id: str
    function_id: str
    started: int
    completed: int
    failed: int
    cancelled: int
    duration_ms: float
    durations: tuple[int, ...]


def totals(now: datetime | None = None) -> list[Totals]:
    """Per function, everything counted since the metrics began: the rolled-up totals plus the minutes not
    rolled up yet. One statement after the roll-up; one row per function."""
    now = now or timezone.now()
    mark = roll_up(now)
    rows = _rows(_statement(sql.METRICS_TOTALS), _facts_params(minute_start(mark), now + _FUTURE))
    return [Totals(app_id=row["app_id"], function_id=row["function_id"], started=int(row["started"]),
                   completed=int(row["completed"]), failed=int(row["failed"]), cancelled=int(row["cancelled"]),
                   duration_ms=float(row["duration_ms"] or 0),
                   durations=tuple(int(row[name]) for name in DURATION_COLUMNS))
            for row in rows]
