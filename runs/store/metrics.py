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
    Run,
    RunMetricsMinute,
    RunMetricsRollup,
    RunMetricsTotal,
)
from runs.status import RunStatus
from runs.store.backends import backend
from runs.store.transient import retrying

SETTLE_MINUTES = 2
BACKFILL_MINUTES = 7 * 24 * 60  # the first roll-up counts the last week (the longest chart)
KEEP_MINUTES = 8 * 24 * 60
COUNTERS = ("started", "completed", "failed", "cancelled", "duration_ms", *DURATION_COLUMNS)
_FUTURE = timedelta(days=1)  # the upper end of "not yet rolled up"
_MARK = 1  # the primary key of the one RunMetricsRollup row: two first roll-ups at once cannot both create it

_RUNS = Run._meta.db_table
_MINUTES = RunMetricsMinute._meta.db_table
_TOTALS = RunMetricsTotal._meta.db_table


def epoch_minute(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def minute_start(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, tz=UTC)


def _facts_sql() -> str:
    """Every run fact of [start, end) as rows of (minute, app_id, function_id, *COUNTERS): one row per run that
    started, one per run that ended completed, failed or cancelled. Params: start, end, start, end."""
    db = backend()
    started_zeros = ", ".join(f"0 AS {name}" for name in COUNTERS[1:])
    timed = (f"CASE WHEN status IN ('{RunStatus.COMPLETED}', '{RunStatus.FAILED}') THEN "
             f"{db.milliseconds_between(f'COALESCE({db.last_attempt_start()}, started_at)', 'ended_at')} END")
    buckets = []
    lower = None
    for bound, name in zip((*DURATION_BOUNDS_MS, None), DURATION_COLUMNS, strict=True):
        tests = ([f"ms > {lower}"] if lower is not None else []) + ([f"ms <= {bound}"] if bound is not None else [])
        buckets.append(f"CASE WHEN ms IS NOT NULL AND {' AND '.join(tests)} THEN 1 ELSE 0 END AS {name}")
        lower = bound
    return f"""
        SELECT {db.epoch_minute('started_at')} AS minute, app_id, function_id, 1 AS started, {started_zeros}
        FROM {_RUNS} WHERE started_at >= %s AND started_at < %s
        UNION ALL
        SELECT {db.epoch_minute('ended_at')}, app_id, function_id, 0,
               CASE WHEN status = '{RunStatus.COMPLETED}' THEN 1 ELSE 0 END,
               CASE WHEN status = '{RunStatus.FAILED}' THEN 1 ELSE 0 END,
               CASE WHEN status = '{RunStatus.CANCELLED}' THEN 1 ELSE 0 END,
               COALESCE(ms, 0), {', '.join(buckets)}
        FROM (SELECT ended_at, app_id, function_id, status, {timed} AS ms FROM {_RUNS}
              WHERE ended_at >= %s AND ended_at < %s
                AND status IN ('{RunStatus.COMPLETED}', '{RunStatus.FAILED}', '{RunStatus.CANCELLED}')) AS ended"""


def _sums() -> str:
    return ", ".join(f"SUM({name})" for name in COUNTERS)


def _adapt(moment: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


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
            columns = ", ".join(COUNTERS)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {_MINUTES} (minute, app_id, function_id, {columns}) "
                    f"SELECT minute, app_id, function_id, {_sums()} FROM ({_facts_sql()}) AS facts "
                    "GROUP BY minute, app_id, function_id",
                    [_adapt(minute_start(start)), _adapt(minute_start(target))] * 2)
                # The minute of all functions together: the overall chart of a week reads 10,080 rows, not
                # 10,080 per function.
                cursor.execute(
                    f"INSERT INTO {_MINUTES} (minute, app_id, function_id, {columns}) "
                    f"SELECT minute, '', '', {_sums()} FROM {_MINUTES} "
                    "WHERE minute >= %s AND minute < %s AND function_id <> '' GROUP BY minute", [start, target])
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
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT app_id, function_id, {_sums()} FROM {_MINUTES} WHERE minute >= %s AND minute < %s "
                       "AND function_id <> '' GROUP BY app_id, function_id", [start, end])
        deltas = cursor.fetchall()
    for app_id, function_id, *values in deltas:  # one row per function that ran in these minutes
        added = dict(zip(COUNTERS, values, strict=True))
        total, created = RunMetricsTotal.objects.get_or_create(app_id=app_id, function_id=function_id,
                                                               defaults=added)
        if not created:
            RunMetricsTotal.objects.filter(id=total.id).update(
                **{name: F(name) + value for name, value in added.items() if value})


# --- reads -------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Point:
    """One chart point: the bucket starting at `minute` (epoch minutes)."""
    minute: int
    started: int
    completed: int
    failed: int
    cancelled: int
    durations: tuple[int, ...]  # counts per DURATION_COLUMNS


def _function_filter(function: tuple[str, str] | None, alias: str = "") -> tuple[str, list[str]]:
    if function is None:
        return "", []
    prefix = f"{alias}." if alias else ""
    return f" AND {prefix}app_id = %s AND {prefix}function_id = %s", list(function)


def series(*, first_minute: int, bucket_minutes: int, function: tuple[str, str] | None = None,
           now: datetime | None = None) -> list[Point]:
    """Points of `bucket_minutes` from the bucket holding `first_minute` to now (only buckets with runs), from
    one statement: rolled-up minutes, plus the runs of the minutes not rolled up yet."""
    now = now or timezone.now()
    mark = roll_up(now)
    # Rolled-up minutes of all functions together have an empty app and function id.
    where, args = _function_filter(function or ("", ""))
    tail_where, tail_args = _function_filter(function, "facts")
    first = (first_minute // bucket_minutes) * bucket_minutes
    names = ", ".join(COUNTERS)
    statement = f"""
        SELECT minute / %s AS bucket, {_sums()} FROM (
            SELECT minute, {names} FROM {_MINUTES} WHERE minute >= %s AND minute < %s{where}
            UNION ALL
            SELECT facts.minute, {', '.join(f'facts.{name}' for name in COUNTERS)} FROM ({_facts_sql()}) AS facts
            WHERE facts.minute >= %s{tail_where}
        ) AS points GROUP BY minute / %s ORDER BY 1"""
    tail_from = _adapt(minute_start(max(mark, first)))
    upper = _adapt(now + _FUTURE)
    params = [bucket_minutes, first, mark, *args, tail_from, upper, tail_from, upper, first, *tail_args,
              bucket_minutes]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    return [Point(minute=int(bucket) * bucket_minutes, started=int(started or 0), completed=int(completed or 0),
                  failed=int(failed or 0), cancelled=int(cancelled or 0),
                  durations=tuple(int(count or 0) for count in counts))
            for bucket, started, completed, failed, cancelled, _duration_ms, *counts in rows]


@dataclass(frozen=True, slots=True)
class Backlog:
    runs: int  # due (ready_at has passed) and not claimed by any worker
    oldest_due_at: datetime | None


def backlog(function: tuple[str, str] | None = None, now: datetime | None = None) -> Backlog:
    """Due runs nobody has claimed: a claim moves ready_at to the lease's expiry, so a due ready_at is a run
    waiting for a worker (or one whose worker died and whose lease ran out). One query (the run_ready index)."""
    where, args = _function_filter(function)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*), MIN(ready_at) FROM {_RUNS} WHERE ready_at IS NOT NULL AND ready_at <= %s"
                       f"{where}", [_adapt(now or timezone.now()), *args])
        count, oldest = cursor.fetchone()
    if isinstance(oldest, str):  # SQLite hands back text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and timezone.is_naive(oldest):
        oldest = timezone.make_aware(oldest, UTC)
    return Backlog(runs=int(count), oldest_due_at=oldest)


@dataclass(frozen=True, slots=True)
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
    names = ", ".join(COUNTERS)
    start, upper = _adapt(minute_start(mark)), _adapt(now + _FUTURE)
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT app_id, function_id, {_sums()} FROM (
                SELECT app_id, function_id, {names} FROM {_TOTALS}
                UNION ALL
                SELECT app_id, function_id, {names} FROM ({_facts_sql()}) AS facts
            ) AS rows GROUP BY app_id, function_id ORDER BY app_id, function_id""", [start, upper, start, upper])
        rows = cursor.fetchall()
    return [Totals(app_id=app_id, function_id=function_id, started=int(started), completed=int(completed),
                   failed=int(failed), cancelled=int(cancelled), duration_ms=float(duration_ms or 0),
                   durations=tuple(int(count) for count in counts))
            for app_id, function_id, started, completed, failed, cancelled, duration_ms, *counts in rows]
