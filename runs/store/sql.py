"""Every raw SQL statement of the store, in one place; rows come back as named columns (`named_rows`).

The ORM does the rest. These are the statements it cannot express: claims that lease and return rows in one
statement (UPDATE ... RETURNING), the event insert that skips ids seen before (ON CONFLICT DO NOTHING), and the
vendor-specific statements the database backends run (runs/store/backends.py). `{lock}` is the backend's
row-locking clause (`FOR UPDATE SKIP LOCKED` on PostgreSQL, nothing under SQLite's single writer).
"""

from __future__ import annotations

from typing import Any

# A run that starts or resumes leaves the state its reason described (e.g. "waiting on the retried root cause").
_LEASE = """
UPDATE runs_run SET
    status = CASE WHEN status IN ('queued', 'waiting') THEN 'running' ELSE status END,
    status_reason = CASE WHEN status IN ('queued', 'waiting') THEN '' ELSE status_reason END,
    version = version + CASE WHEN status IN ('queued', 'waiting') THEN 1 ELSE 0 END,
    started_at = COALESCE(started_at, %s),
    lease_owner = %s,
    ready_at = %s,
    throttled = FALSE
"""
CLAIM_RETURNING = """
RETURNING id, app_id, function_id, event_id, event_name, event_data, event_user, event_ts,
          body_failures, depth, root_run_id, attempts, wakeups, started_at, version, parent_run_id, parent_step_id,
          concurrency_key, concurrency_limit, created_at
"""

# Claim the oldest due runs of the given apps, in one statement. Runs of a function an operator paused are parked
# instead of leased: ready_at NULL takes them out of the claim index (no claim walks over them again), `paused`
# marks them for the resume, and their status stays as it was; the returned `paused` tells the parked rows apart.
# The paused functions (usually none: an index of nothing) are read FOR SHARE on PostgreSQL: a resume (which
# updates the function's row) waits for claims that saw it paused, so no claim parks a run after the resume made
# the parked ones due. Params: *app ids (the paused functions'), now, lease token, lease expiry, now, *app ids,
# limit.
_PARKS = "(app_id, function_id) IN (SELECT p_app, p_function FROM paused_functions)"
_STARTS = "status IN ('queued', 'waiting') AND NOT " + _PARKS
CLAIM = """WITH paused_functions (p_app, p_function) AS (
    SELECT app_id, function_id FROM runs_function WHERE paused AND app_id IN ({apps}) {share}
)""" + f"""
UPDATE runs_run SET
    status = CASE WHEN {_STARTS} THEN 'running' ELSE status END,
    status_reason = CASE WHEN {_STARTS} THEN '' ELSE status_reason END,
    version = version + CASE WHEN {_STARTS} THEN 1 ELSE 0 END,
    started_at = CASE WHEN {_PARKS} THEN started_at ELSE COALESCE(started_at, %s) END,
    lease_owner = CASE WHEN {_PARKS} THEN NULL ELSE %s END,
    ready_at = CASE WHEN {_PARKS} THEN NULL ELSE %s END,
    throttled = FALSE,
    paused = {_PARKS}
""" + """
WHERE id IN (
    SELECT id FROM runs_run
    WHERE ready_at IS NOT NULL AND ready_at <= %s AND app_id IN ({apps})
    ORDER BY ready_at
    LIMIT %s
    {lock}
)""" + CLAIM_RETURNING.rstrip() + ", paused\n"

# Take one run this worker just made due (a child it created, a parent it resumed), if nobody holds it.
# (A parent still waiting on other steps is not taken: it is woken a little later instead, see rows.wake_resumed;
# nor a run of a paused function: the caller makes it due, and the next claim parks it.)
# Params: now, lease token, lease expiry, run id, run id.
HAND_OFF = _LEASE + """
WHERE id = %s AND lease_owner IS NULL AND status IN ('queued', 'running', 'waiting')
  AND concurrency_key IS NULL
  AND NOT EXISTS (SELECT 1 FROM runs_function WHERE runs_function.paused
                  AND runs_function.app_id = runs_run.app_id AND runs_function.function_id = runs_run.function_id)
  AND NOT EXISTS (SELECT 1 FROM runs_step WHERE runs_step.run_id = %s AND runs_step.status = 'waiting')
""" + CLAIM_RETURNING

# Heartbeat: push the leases of these tokens further. Params: expiry, *tokens.
RENEW = """
UPDATE runs_run SET ready_at = %s
WHERE id IN (SELECT id FROM runs_run WHERE lease_owner IN ({tokens}) {lock})
"""

# Insert events whose id is new; returns the ids inserted. Formatted with the table, columns and value rows.
INSERT_NEW_EVENTS = "INSERT INTO {table} ({columns}) VALUES {rows} ON CONFLICT (id) DO NOTHING RETURNING id"

# --- PostgreSQL only (runs/store/backends.py) --------------------------------------------------------------

# Transaction-scoped advisory locks, taken in sorted order in one statement (no deadlock between two lockers).
PG_ADVISORY_LOCKS = "SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(%s::int[]) AS k ORDER BY 1) AS sorted"
# Of these runs, those no other transaction holds a row lock on right now.
PG_UNLOCKED_RUNS = "SELECT id FROM runs_run WHERE id = ANY(%s) FOR SHARE SKIP LOCKED"
# Delivered to LISTENers when the transaction commits, never before.
PG_NOTIFY = "SELECT pg_notify(%s, %s)"
PG_LISTEN = "LISTEN {channel}"
# A session's prepared statements get one plan for any parameters (the others are not prepared: unaffected).
PG_GENERIC_PLANS = "SET plan_cache_mode = force_generic_plan"


def compact(statement: str) -> str:
    """The statement on one line with single spaces (no comments, no literal with a run of spaces): psycopg
    parses a statement's placeholders once and caches the result only for statements of at most 4 KB."""
    return " ".join(statement.split())


def named_rows(cursor: Any) -> list[dict[str, Any]]:
    """The cursor's remaining rows as dicts keyed by column name (never read by position). A prepared cursor
    (backends.prepared_cursor) makes them dicts already."""
    rows = cursor.fetchall()
    if not rows or isinstance(rows[0], dict):
        return rows  # type: ignore[no-any-return]
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in rows]


# Count a wake-up on an active run (always a write: it takes the row's lock, which orders it with claims); a run
# no worker holds becomes due at `{due}` unless it is due earlier already. Returns whether the run is now due at
# `{due}` and unheld: only then must idle workers in other processes be told. `{due}` is an SQL expression whose
# parameters come first, three times; then the run id and the active statuses.
_WAKE = """
UPDATE runs_run SET
    wakeups = wakeups + 1,
    ready_at = CASE WHEN lease_owner IS NULL AND (ready_at IS NULL OR ready_at > {due}) THEN {due} ELSE ready_at END
WHERE id = %s AND status IN ({statuses})
RETURNING lease_owner IS NULL AND ready_at = {due}
"""
# Due now. Params: now.
WAKE_NOW_DUE = "%s"
# Due now if no other step of the run still waits, else a little later (coalescing a fan-in's wake-ups).
# Params: the step status 'waiting', later, now.
WAKE_RESUMED_DUE = ("(CASE WHEN EXISTS (SELECT 1 FROM runs_step WHERE runs_step.run_id = runs_run.id "
                    "AND runs_step.status = %s) THEN %s ELSE %s END)")


def wake(due: str, statuses: int) -> str:
    """The wake-up statement for a `due` expression (WAKE_NOW_DUE or WAKE_RESUMED_DUE)."""
    return _WAKE.format(due=due, statuses=", ".join(["%s"] * statuses))


# --- run metrics (runs/store/metrics.py) ---------------------------------------------------------------------
# `{counters}`: the counter columns of runs_runmetricsminute in order; `{sums}`: SUM(<counter>) AS <counter> each.

# Every run fact of [start, end) as (minute, app_id, function_id, <counters>): a row per run that started, a row
# per run that ended completed, failed or cancelled (with its duration and histogram bucket when it completed or
# failed). Built by metrics_facts(); params: start, end, start, end.
_METRICS_FACTS = """
SELECT {started_minute} AS minute, app_id, function_id, 1 AS started, {started_zeros}
FROM runs_run WHERE started_at >= %s AND started_at < %s
UNION ALL
SELECT {ended_minute}, app_id, function_id, 0,
       CASE WHEN status = 'completed' THEN 1 ELSE 0 END,
       CASE WHEN status = 'failed' THEN 1 ELSE 0 END,
       CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END,
       COALESCE(ms, 0), {buckets}
FROM (SELECT ended_at, app_id, function_id, status,
             CASE WHEN status IN ('completed', 'failed') THEN {duration_ms} END AS ms
      FROM runs_run
      WHERE ended_at >= %s AND ended_at < %s AND status IN ('completed', 'failed', 'cancelled')) AS ended
"""


def metrics_facts(*, started_minute: str, ended_minute: str, duration_ms: str, counters: tuple[str, ...],
                  bounds: tuple[int, ...]) -> str:
    """_METRICS_FACTS with the backend's expressions; counters are started, completed, failed, cancelled,
    duration_ms, then one histogram column per bound (durations in (previous bound, bound]) and one above."""
    buckets, lower = [], None
    for bound, name in zip((*bounds, None), counters[5:], strict=True):
        tests = ([f"ms > {lower}"] if lower is not None else []) + ([f"ms <= {bound}"] if bound is not None else [])
        buckets.append(f"CASE WHEN ms IS NOT NULL AND {' AND '.join(tests)} THEN 1 ELSE 0 END AS {name}")
        lower = bound
    return _METRICS_FACTS.format(started_minute=started_minute, ended_minute=ended_minute, duration_ms=duration_ms,
                                 started_zeros=", ".join(f"0 AS {name}" for name in counters[1:]),
                                 buckets=", ".join(buckets))


# Roll up the facts of [start, end) per function and minute. Params: the facts' (start, end, start, end).
METRICS_ROLL_UP = """
INSERT INTO runs_runmetricsminute (minute, app_id, function_id, {counters})
SELECT minute, app_id, function_id, {sums} FROM ({facts}) AS facts GROUP BY minute, app_id, function_id
"""
# ...and all functions together per minute (empty app and function ids), from those rows. Params: start, end.
METRICS_ROLL_UP_ALL = """
INSERT INTO runs_runmetricsminute (minute, app_id, function_id, {counters})
SELECT minute, '', '', {sums} FROM runs_runmetricsminute
WHERE minute >= %s AND minute < %s AND function_id <> '' GROUP BY minute
"""
# What the minutes [start, end) add to each function's totals. Params: start, end.
METRICS_ADDED = """
SELECT app_id, function_id, {sums} FROM runs_runmetricsminute
WHERE minute >= %s AND minute < %s AND function_id <> '' GROUP BY app_id, function_id
"""
# Chart points of `bucket` minutes: rolled-up minutes [first, rolled_to) of one function (or of all: '', ''),
# plus the facts since. Params: bucket, first, rolled_to, app, function, the facts' four, first, [app, function,]
# bucket.
METRICS_SERIES = """
SELECT minute / %s AS bucket, {sums} FROM (
    SELECT minute, {counters} FROM runs_runmetricsminute
    WHERE minute >= %s AND minute < %s AND app_id = %s AND function_id = %s
    UNION ALL
    SELECT minute, {counters} FROM ({facts}) AS facts WHERE minute >= %s{function}
) AS points GROUP BY minute / %s ORDER BY 1
"""
# Due runs nobody claimed (run_ready index). Params: now[, app, function].
METRICS_BACKLOG = """
SELECT COUNT(*) AS runs, MIN(ready_at) AS oldest FROM runs_run
WHERE ready_at IS NOT NULL AND ready_at <= %s{function}
"""
# Per function: the rolled-up totals plus the facts since. Params: the facts' four.
METRICS_TOTALS = """
SELECT app_id, function_id, {sums} FROM (
    SELECT app_id, function_id, {counters} FROM runs_runmetricstotal
    UNION ALL
    SELECT app_id, function_id, {counters} FROM ({facts}) AS facts
) AS totals GROUP BY app_id, function_id ORDER BY app_id, function_id
"""
# Appended to METRICS_SERIES' facts and METRICS_BACKLOG for one function. Params: app, function.
METRICS_ONE_FUNCTION = " AND app_id = %s AND function_id = %s"
