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
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from runs.domain import ClaimedRun
from runs.models import Run

_CLAIM = """
UPDATE runs_run SET
    status = CASE WHEN status IN ('queued', 'waiting') THEN 'running' ELSE status END,
    version = version + CASE WHEN status IN ('queued', 'waiting') THEN 1 ELSE 0 END,
    started_at = COALESCE(started_at, %s),
    lease_owner = %s,
    ready_at = %s
WHERE id IN (
    SELECT id FROM runs_run
    WHERE ready_at IS NOT NULL AND ready_at <= %s AND app_id IN ({apps})
    ORDER BY ready_at
    LIMIT %s
    {lock}
)
RETURNING id, app_id, function_id, event_id, event_name, event_data, event_user, event_ts,
          body_failures, depth, root_run_id, attempts, wakeups, started_at
"""


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.RUNS_LEASE_SECONDS)


def claim_runs(worker_name: str, app_ids: Sequence[str], limit: int = 1) -> list[ClaimedRun]:
    """Claim up to `limit` due runs of the given apps, oldest due first."""
    if not app_ids:
        return []
    now = timezone.now()
    token = f"{worker_name}:{uuid.uuid4().hex[:12]}"
    adapt = connection.ops.adapt_datetimefield_value
    lock = "FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = _CLAIM.format(apps=", ".join(["%s"] * len(app_ids)), lock=lock)
    params = [adapt(now), token, adapt(now + lease_duration()), adapt(now), *app_ids, limit]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    fresh_marker = adapt(now)
    return [_claimed(row, token, fresh=row[13] == fresh_marker or row[13] == now) for row in rows]


def _load_json(value: object) -> dict:
    return json.loads(value) if isinstance(value, str | bytes) else (value or {})  # type: ignore[return-value]


def _claimed(row: tuple, token: str, *, fresh: bool) -> ClaimedRun:
    (run_id, app_id, function_id, event_id, event_name, event_data, event_user, event_ts,
     body_failures, depth, root_run_id, attempts, wakeups, _started) = row
    event = {"id": event_id, "name": event_name, "data": _load_json(event_data), "user": _load_json(event_user),
             "ts": event_ts}
    return ClaimedRun(id=run_id, app_id=app_id, function_id=function_id, event=event,
                      body_failures=body_failures, depth=depth, root_run_id=root_run_id, attempts=attempts,
                      wakeups=wakeups, lease_owner=token, has_steps=not (fresh and body_failures == 0))


def renew_leases(tokens: Iterable[str]) -> None:
    """Heartbeat: push the leases this worker holds further into the future."""
    tokens = list(tokens)
    if tokens:
        Run.objects.filter(lease_owner__in=tokens).update(ready_at=timezone.now() + lease_duration())


def next_due() -> datetime | None:
    """When the earliest scheduled run falls due (a timer, a retry, a lease expiry)."""
    return Run.objects.filter(ready_at__isnull=False).order_by("ready_at").values_list("ready_at", flat=True).first()
