"""Generated runs for the UI benchmarks (issue 11: the runs list, searches, incidents and metrics at 1,000,000
runs). Not checked-in data: `generate_runs(n)` bulk-inserts root runs with SQL in a few seconds per million
on PostgreSQL (one INSERT ... SELECT FROM generate_series per batch); other databases get the same rows through
bulk_create, which is slower but fine for the few thousand a test needs.

The rows are deterministic for (n, prefix, now): run i belongs to function `fn-{i % functions}` of app
`bench-app`, was created at a spread-out moment within `span` before `now`, and is (per hundred of its function's runs: by
(i // functions) % 100) 90 completed,
6 failed, 2 running (leased for a week: a benchmark hours later still sees live leases, not 2% of the runs
back in the backlog as if their workers had died), 1 queued and due (the backlog), 1 cancelled. Durations spread from 20 ms to ~10 s.
Event data and failures vary for the searches and incidents: see REGIONS and ERRORS.
Call it again with another `prefix` to add more.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction

from runs.models import Function, Run, RunMetricsMinute, RunMetricsRollup, RunMetricsTotal
from runs.status import RunStatus
from runs.store import metrics

APP_ID = "bench-app"
EVENT_NAME = "bench/generated"
BATCH = 200_000
LEASE = timedelta(days=7)  # of the generated running runs
REGIONS = ("eu", "us", "ap", "sa")  # event_data: {"i": i, "customer": "c<i % 1000>", "region": REGIONS[i % 4]}
ERRORS = ("KeyError", "TimeoutError", "ValueError")  # a failed run's error name; step "step-<i % 3>" failed
_SPREAD = 2654435761  # Knuth's multiplicative hash: spreads consecutive i over the whole span


def function_ids(functions: int) -> list[str]:
    return [f"fn-{k}" for k in range(functions)]


def generate_runs(n: int, *, functions: int = 10, span: timedelta = timedelta(days=7), prefix: str = "g",
                  now: datetime | None = None, analyze: bool = True, rebuild_metrics: bool = True) -> int:
    """Insert `n` generated root runs (and their Function rows); returns n. `now` defaults to the present.
    The metrics' roll-up is rebuilt afterwards (a few seconds per 100,000 runs) unless rebuild_metrics=False."""
    now = now or datetime.now(UTC)
    with transaction.atomic():
        for function_id in function_ids(functions):
            Function.objects.get_or_create(app_id=APP_ID, function_id=function_id,
                                           defaults={"trigger": EVENT_NAME, "config": {}})
    if connection.vendor == "postgresql":
        for start in range(0, n, BATCH):
            _insert_postgresql(start, min(n, start + BATCH), n, functions=functions, span=span, prefix=prefix,
                               now=now)
        if analyze:
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM ANALYZE {Run._meta.db_table}")  # visibility map: index-only scans
    else:
        for start in range(0, n, 5000):
            Run.objects.bulk_create([_run(i, n, functions=functions, span=span, prefix=prefix, now=now)
                                     for i in range(start, min(n, start + 5000))])
    if rebuild_metrics:
        roll_up_from_scratch()
    return n


def roll_up_from_scratch() -> None:
    """Roll the metrics up again from scratch: the roll-up never revisits a minute it has passed, and these
    runs were written into minutes long past (a live deployment's runs start and end in the present)."""
    with transaction.atomic():
        for model in (RunMetricsMinute, RunMetricsTotal, RunMetricsRollup):
            model.objects.all().delete()
    metrics.roll_up()


# Per hundred runs: which status run i has (its i % 100).
def _status(i: int, functions: int) -> str:
    k = (i // functions) % 100  # the function's own sequence: every function gets every status in these shares
    if k < 90:
        return RunStatus.COMPLETED
    if k < 96:
        return RunStatus.FAILED
    if k < 98:
        return RunStatus.RUNNING
    if k < 99:
        return RunStatus.QUEUED
    return RunStatus.CANCELLED


def _duration_ms(i: int) -> int:
    return 20 + (i * 7919) % 400 + ((i * 104729) % 1000) ** 6 // 10**14  # mostly under 0.6 s, a tail to 10 s


def _run(i: int, n: int, *, functions: int, span: timedelta, prefix: str, now: datetime) -> Run:
    created = now - span * (((i * _SPREAD) % n) / n)
    status = _status(i, functions)
    started = None if status == RunStatus.QUEUED else created + timedelta(milliseconds=i % 50)
    ended = None
    if status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED) and started is not None:
        ended = min(now, started + timedelta(milliseconds=_duration_ms(i)))
    ready: datetime | None = {str(RunStatus.QUEUED): created, str(RunStatus.RUNNING): now + LEASE}.get(status)
    run_id = f"{prefix}{i:0>20}"[:32]
    failed = status == RunStatus.FAILED
    return Run(id=run_id, app_id=APP_ID, function_id=f"fn-{i % functions}", status=status, event_id=f"e{run_id}"[:64],
               event_name=EVENT_NAME, event_user={}, event_ts=int(created.timestamp() * 1000),
               event_data={"i": i, "customer": f"c{i % 1000}", "region": REGIONS[i % len(REGIONS)]},
               root_run_id=run_id, created_at=created, started_at=started, ended_at=ended, ready_at=ready,
               lease_owner="bench:lease" if status == RunStatus.RUNNING else None,
               error={"name": ERRORS[i % len(ERRORS)], "message": f"generated failure {i % 97}"} if failed else None,
               failed_step_id=f"step-{i % 3}" if failed else None)


_INSERT = """
INSERT INTO runs_run (id, app_id, function_id, status, status_reason, event_id, event_name, event_data, event_user,
    event_ts, output, error, failed_step_id, attempts, body_failures, parent_step_attempt, root_run_id, depth,
    concurrency_limit, throttled, attempts_history, wakeups, version, created_at, started_at, ended_at, ready_at,
    lease_owner)
SELECT id, %(app)s, 'fn-' || (i %% %(functions)s), status, '', 'e' || id, %(event)s,
    jsonb_build_object('i', i, 'customer', 'c' || (i %% 1000), 'region', (%(regions)s::text[])[1 + i %% 4]), '{}',
    (extract(epoch FROM created) * 1000)::bigint, NULL,
    CASE WHEN status = 'failed' THEN jsonb_build_object('name', (%(errors)s::text[])[1 + i %% 3],
                                                        'message', 'generated failure ' || (i %% 97)) END,
    CASE WHEN status = 'failed' THEN 'step-' || (i %% 3) END,
    1, 0, 0, id, 0, 0, FALSE, '[]', 0, 1, created, started,
    CASE WHEN status IN ('completed', 'failed', 'cancelled')
         THEN LEAST(%(now)s, started + make_interval(secs => duration / 1000.0)) END,
    CASE status WHEN 'queued' THEN created WHEN 'running' THEN %(now)s + %(lease)s END,
    CASE WHEN status = 'running' THEN 'bench:lease' END
FROM (
    SELECT i, id, status, created,
           CASE WHEN status = 'queued' THEN NULL ELSE created + make_interval(secs => (i %% 50) / 1000.0) END AS started,
           20 + (i * 7919) %% 400 + floor(((i * 104729) %% 1000)::float8 ^ 6 / 1e14)::bigint AS duration
    FROM (
        SELECT i, left(%(prefix)s || lpad(i::text, 20, '0'), 32) AS id,
               %(now)s - %(span)s * (((i * %(spread)s) %% %(n)s)::float8 / %(n)s) AS created,
               CASE WHEN i / %(functions)s %% 100 < 90 THEN 'completed' WHEN i / %(functions)s %% 100 < 96 THEN 'failed'
                    WHEN i / %(functions)s %% 100 < 98 THEN 'running' WHEN i / %(functions)s %% 100 < 99 THEN 'queued'
                    ELSE 'cancelled' END AS status
        FROM generate_series(%(start)s::bigint, %(stop)s::bigint - 1) AS i
    ) AS base
) AS rows
"""


def _insert_postgresql(start: int, stop: int, n: int, *, functions: int, span: timedelta, prefix: str,
                       now: datetime) -> None:
    with connection.cursor() as cursor:
        params: dict[str, Any] = {"app": APP_ID, "functions": functions, "event": EVENT_NAME, "now": now,
                                  "prefix": prefix, "span": span, "spread": _SPREAD, "n": n, "start": start,
                                  "stop": stop, "regions": list(REGIONS), "errors": list(ERRORS), "lease": LEASE}
        cursor.execute(_INSERT, params)
