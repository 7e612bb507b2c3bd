"""Claiming runs to execute, keeping the leases alive, and when the next run falls due.

A run is claimable when `ready_at <= now`. Claiming moves `ready_at` to the lease's expiry, so a run whose
worker died becomes claimable again by itself; a live worker renews its leases (heartbeat).
PostgreSQL claims with FOR UPDATE SKIP LOCKED; SQLite's IMMEDIATE transactions make the same statement a
compare-and-set under the database's single writer lock.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from runs import conf
from runs.domain import ClaimedRun
from runs.models import Run
from runs.status import RunStatus
from runs.store import flow, live
from runs.store.rows import run_delta
from runs.store.transient import retrying

_LEASE = """
UPDATE runs_run SET
    status = CASE WHEN status IN ('queued', 'waiting') THEN 'running' ELSE status END,
    version = version + CASE WHEN status IN ('queued', 'waiting') THEN 1 ELSE 0 END,
    started_at = COALESCE(started_at, %s),
    lease_owner = %s,
    ready_at = %s,
    throttled = FALSE
"""
_RETURNING = """
RETURNING id, app_id, function_id, event_id, event_name, event_data, event_user, event_ts,
          body_failures, depth, root_run_id, attempts, wakeups, started_at, version, parent_run_id, parent_step_id,
          concurrency_key, concurrency_limit, created_at
"""
# Claim the oldest due runs of the given apps.
_CLAIM = _LEASE + """
WHERE id IN (
    SELECT id FROM runs_run
    WHERE ready_at IS NOT NULL AND ready_at <= %s AND app_id IN ({apps})
    ORDER BY ready_at
    LIMIT %s
    {lock}
)""" + _RETURNING
# Take one run this worker just made due (a child it created, a parent it resumed), if nobody holds it.
# (A parent still waiting on other steps is not taken: it is woken a little later instead, see rows.wake_resumed.)
_HAND_OFF = _LEASE + """
WHERE id = %s AND lease_owner IS NULL AND status IN ('queued', 'running', 'waiting')
  AND concurrency_key IS NULL
  AND NOT EXISTS (SELECT 1 FROM runs_step WHERE runs_step.run_id = %s AND runs_step.status = 'waiting')
""" + _RETURNING


def lease_duration() -> timedelta:
    return timedelta(seconds=conf.get("RUNS_LEASE_SECONDS"))


def claim_runs(worker_name: str, app_ids: Sequence[str], limit: int = 1) -> list[ClaimedRun]:
    """Claim up to `limit` due runs of the given apps, oldest due first."""
    if not app_ids:
        return []
    return retrying(lambda: _claim_runs_once(worker_name, app_ids, limit), "claiming runs")


def _claim_runs_once(worker_name: str, app_ids: Sequence[str], limit: int) -> list[ClaimedRun]:
    now = timezone.now()
    token = new_token(worker_name)
    adapt = connection.ops.adapt_datetimefield_value
    lock = "FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = _CLAIM.format(apps=", ".join(["%s"] * len(app_ids)), lock=lock)
    params = [adapt(now), token, adapt(now + lease_duration()), adapt(now), *app_ids, limit]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        fresh = {row[0] for row in rows if _is_instant(row[13], now)}
        claims = [_claimed(row, token, fresh=row[0] in fresh) for row in rows]
        # Runs beyond their concurrency limit go back, throttled until a slot frees; runs that must not
        # start before an older run of their key, or that this batch cannot start at once, go back due (S17).
        created = {row[0]: _as_aware(row[19]) or now for row in rows if row[17]}
        refused, again = flow.over_limit(claims, created, now)
        if refused or again:
            flow.throttle_txn(refused, fresh)
            flow.give_back_txn(again, fresh)
            claims = [claim for claim in claims if claim.id not in refused and claim.id not in again]
    for claim in claims:
        live.run_changed(run_delta(claim, RunStatus.RUNNING, claim.version))
    return claims


def _as_aware(value: object) -> datetime | None:
    """A datetime read back from RETURNING: SQLite hands it back as text or as a naive datetime (UTC),
    PostgreSQL as an aware datetime."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, datetime):
        return None
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value


def _is_instant(value: object, now: datetime) -> bool:
    """Whether a started_at read back from RETURNING is `now` (this claim set it: the run is fresh)."""
    return _as_aware(value) == now


def hand_off(run_id: str, worker_name: str) -> ClaimedRun | None:
    """Lease a run to this worker directly, inside the caller's transaction; None if someone holds it."""
    now = timezone.now()
    token = new_token(worker_name)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(_HAND_OFF, [adapt(now), token, adapt(now + lease_duration()), run_id, run_id])
        row = cursor.fetchone()
    if not row:
        return None
    claim = _claimed(row, token, fresh=False)
    live.run_changed(run_delta(claim, RunStatus.RUNNING, claim.version))
    return claim


def new_token(worker_name: str) -> str:
    """A lease token: the worker's name and a random part, so each claim is told apart."""
    return f"{worker_name}:{uuid.uuid4().hex[:12]}"


def worker_of(token: str) -> str:
    return token.rsplit(":", 1)[0]


def _load_json(value: object) -> dict:
    return json.loads(value) if isinstance(value, str | bytes) else (value or {})  # type: ignore[return-value]


def _claimed(row: tuple, token: str, *, fresh: bool) -> ClaimedRun:
    (run_id, app_id, function_id, event_id, event_name, event_data, event_user, event_ts,
     body_failures, depth, root_run_id, attempts, wakeups, _started, version, parent_run_id, parent_step_id,
     concurrency_key, concurrency_limit, _created) = row
    event = {"id": event_id, "name": event_name, "data": _load_json(event_data), "user": _load_json(event_user),
             "ts": event_ts}
    return ClaimedRun(id=run_id, app_id=app_id, function_id=function_id, event=event,
                      body_failures=body_failures, depth=depth, root_run_id=root_run_id, attempts=attempts,
                      wakeups=wakeups, lease_owner=token, has_steps=not (fresh and body_failures == 0),
                      version=version, parent_run_id=parent_run_id, parent_step_id=parent_step_id,
                      concurrency_key=concurrency_key, concurrency_limit=concurrency_limit)


_RENEW = """
UPDATE runs_run SET ready_at = %s
WHERE id IN (SELECT id FROM runs_run WHERE lease_owner IN ({tokens}) {lock})
"""


def renew_leases(tokens: Iterable[str]) -> None:
    """Heartbeat: push the leases this worker holds further into the future.

    A row another transaction holds (a run ending, a wake-up) is skipped, never waited for: the heartbeat
    then takes part in no lock cycle, and renews that lease at its next beat, well before it expires."""
    tokens = list(tokens)
    if not tokens:
        return
    lock = "FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = _RENEW.format(tokens=", ".join(["%s"] * len(tokens)), lock=lock)

    def renew() -> None:
        expiry = connection.ops.adapt_datetimefield_value(timezone.now() + lease_duration())
        with connection.cursor() as cursor:
            cursor.execute(sql, [expiry, *tokens])

    retrying(renew, "renewing leases")


def release(claim: ClaimedRun) -> None:
    """Give a claimed run back unexecuted: due at once, for any worker."""
    retrying(lambda: Run.objects.filter(id=claim.id, lease_owner=claim.lease_owner).update(
        lease_owner=None, ready_at=timezone.now()), f"releasing run {claim.id}")


def next_due(app_ids: Sequence[str]) -> datetime | None:
    """When the earliest scheduled run of these apps falls due (a timer, a retry, a lease expiry)."""
    return retrying(lambda: Run.objects.filter(ready_at__isnull=False, app_id__in=list(app_ids))
                    .order_by("ready_at").values_list("ready_at", flat=True).first(), "reading the next due run")
