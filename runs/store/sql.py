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

# Claim the oldest due runs of the given apps. Params: now, lease token, lease expiry, now, *app ids, limit.
CLAIM = _LEASE + """
WHERE id IN (
    SELECT id FROM runs_run
    WHERE ready_at IS NOT NULL AND ready_at <= %s AND app_id IN ({apps})
    ORDER BY ready_at
    LIMIT %s
    {lock}
)""" + CLAIM_RETURNING

# Take one run this worker just made due (a child it created, a parent it resumed), if nobody holds it.
# (A parent still waiting on other steps is not taken: it is woken a little later instead, see rows.wake_resumed.)
# Params: now, lease token, lease expiry, run id, run id.
HAND_OFF = _LEASE + """
WHERE id = %s AND lease_owner IS NULL AND status IN ('queued', 'running', 'waiting')
  AND concurrency_key IS NULL
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


def named_rows(cursor: Any) -> list[dict[str, Any]]:
    """The cursor's remaining rows as dicts keyed by column name (never read by position)."""
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


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
