"""Claiming runs to execute, keeping the leases alive, and when the next run falls due.

A run is claimable when `ready_at <= now`. Claiming moves `ready_at` to the lease's expiry, so a run whose
worker died becomes claimable again by itself; a live worker renews its leases (heartbeat).
PostgreSQL claims with FOR UPDATE SKIP LOCKED; SQLite's IMMEDIATE transactions make the same statement a
compare-and-set under the database's single writer lock (runs/store/backends.py). The statements are in
runs/store/sql.py; their rows are read by column name.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from runs import conf
from runs.domain import ClaimedRun
from runs.models import Run
from runs.status import RunStatus
from runs.store import changes, flow, sql
from runs.store.backends import backend
from runs.store.rows import run_delta
from runs.store.transient import retrying


def lease_duration() -> timedelta:
    return timedelta(seconds=conf.get("RUNS_LEASE_SECONDS"))


def claim_runs(worker_name: str, app_ids: Sequence[str], limit: int = 1) -> list[ClaimedRun]:
    """Claim up to `limit` due runs of the given apps, oldest due first."""
    if not app_ids:
        return []
    for _ in range(PARKING_ROUNDS):
        claims, parked = retrying(lambda: _claim_runs_once(worker_name, app_ids, limit), "claiming runs")
        if claims or not parked:
            return claims
    return []  # parked a few batches: due runs of other functions are next, at the worker's next look


# A claim that only parked runs of paused functions looks again at once (parked ones no longer come first).
PARKING_ROUNDS = 4


def _claim_runs_once(worker_name: str, app_ids: Sequence[str], limit: int) -> tuple[list[ClaimedRun], int]:
    now = timezone.now()
    token = new_token(worker_name)
    adapt = connection.ops.adapt_datetimefield_value
    apps = ", ".join(["%s"] * len(app_ids))
    params: list[Any] = [adapt(now), token, adapt(now + lease_duration()), adapt(now), *app_ids, limit]
    statement = sql.CLAIM.format(apps=apps, share=backend().share_lock, lock=backend().claim_lock)
    with transaction.atomic():
        with backend().prepared_cursor(connection) as cursor:
            cursor.execute(statement, [*app_ids, *params])
            returned = sql.named_rows(cursor)
        # Runs of paused functions were parked, not leased (runs/store/pausing.py).
        rows = [row for row in returned if not row["paused"]]
        parked = len(returned) - len(rows)
        fresh = {row["id"] for row in rows if _is_instant(row["started_at"], now)}
        claims = [_claimed(row, token, fresh=row["id"] in fresh) for row in rows]
        # Runs beyond their concurrency limit go back, throttled until a slot frees; runs that must not
        # start before an older run of their key, or that this batch cannot start at once, go back due (S17).
        created = {row["id"]: _as_aware(row["created_at"]) or now for row in rows if row["concurrency_key"]}
        refused, again = flow.over_limit(claims, created, now)
        if refused or again:
            flow.throttle_txn(refused, fresh)
            flow.give_back_txn(again, fresh)
            claims = [claim for claim in claims if claim.id not in refused and claim.id not in again]
    for claim in claims:
        changes.run_changed(run_delta(claim, RunStatus.RUNNING, claim.version))
    return claims, parked


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
        cursor.execute(sql.HAND_OFF, [adapt(now), token, adapt(now + lease_duration()), run_id, run_id])
        rows = sql.named_rows(cursor)
    if not rows:
        return None
    claim = claimed_from_row(rows[0], token)
    changes.run_changed(run_delta(claim, RunStatus.RUNNING, claim.version))
    return claim


def new_token(worker_name: str) -> str:
    """A lease token: the worker's name and a random part, so each claim is told apart."""
    return f"{worker_name}:{uuid.uuid4().hex[:12]}"


def worker_of(token: str) -> str:
    return token.rsplit(":", 1)[0]


def claimed_from_row(row: dict[str, Any], token: str) -> ClaimedRun:
    """The claim of a run leased to `token` by a statement returning sql.CLAIM_RETURNING's columns, for a run
    that ran before (a resumed parent: its steps are to be loaded)."""
    return _claimed(row, token, fresh=False)


def _load_json(value: object) -> dict:
    return json.loads(value) if isinstance(value, str | bytes) else (value or {})  # type: ignore[return-value]


def _claimed(row: dict[str, Any], token: str, *, fresh: bool) -> ClaimedRun:
    """A claim from a row the claim statement returned (its columns by name)."""
    event = {"id": row["event_id"], "name": row["event_name"], "data": _load_json(row["event_data"]),
             "user": _load_json(row["event_user"]), "ts": row["event_ts"]}
    return ClaimedRun(id=row["id"], app_id=row["app_id"], function_id=row["function_id"], event=event,
                      body_failures=row["body_failures"], depth=row["depth"], root_run_id=row["root_run_id"],
                      attempts=row["attempts"], wakeups=row["wakeups"], lease_owner=token,
                      has_steps=not (fresh and row["body_failures"] == 0), version=row["version"],
                      parent_run_id=row["parent_run_id"], parent_step_id=row["parent_step_id"],
                      concurrency_key=row["concurrency_key"], concurrency_limit=row["concurrency_limit"])


def renew_leases(tokens: Iterable[str]) -> None:
    """Heartbeat: push the leases this worker holds further into the future.

    A row another transaction holds (a run ending, a wake-up) is skipped, never waited for: the heartbeat
    then takes part in no lock cycle, and renews that lease at its next beat, well before it expires."""
    tokens = list(tokens)
    if not tokens:
        return
    statement = sql.RENEW.format(tokens=", ".join(["%s"] * len(tokens)), lock=backend().claim_lock)

    def renew() -> None:
        expiry = connection.ops.adapt_datetimefield_value(timezone.now() + lease_duration())
        with connection.cursor() as cursor:
            cursor.execute(statement, [expiry, *tokens])

    retrying(renew, "renewing leases")


def release(claim: ClaimedRun) -> None:
    """Give a claimed run back unexecuted: due at once, for any worker."""
    retrying(lambda: Run.objects.filter(id=claim.id, lease_owner=claim.lease_owner).update(
        lease_owner=None, ready_at=timezone.now()), f"releasing run {claim.id}")


def next_due(app_ids: Sequence[str]) -> datetime | None:
    """When the earliest scheduled run of these apps falls due (a timer, a retry, a lease expiry)."""
    return retrying(lambda: Run.objects.filter(ready_at__isnull=False, app_id__in=list(app_ids))
                    .order_by("ready_at").values_list("ready_at", flat=True).first(), "reading the next due run")
