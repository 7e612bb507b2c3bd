"""Flow control per function: concurrency limits, rate limits, debounce (S17-S19), applied inside the store's
transactions. Each invoked child goes through its own function's rules, not its parent's.

Serialising per key: PostgreSQL takes a transaction-scoped advisory lock on the key, so two workers never
count the same slots at once; SQLite's IMMEDIATE transactions already run one writer at a time.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Q

from runs.models import Run
from runs.sdk.values import lookup_path
from runs.status import RunStatus


def key_value(run: Run, path: str | None) -> str:
    """The JSON text of the event field a key names (`event.data.user_id`); a missing field is null."""
    event = {"data": run.event_data, "user": run.event_user, "name": run.event_name, "id": run.event_id}
    value = lookup_path({"event": event}, path) if path else None
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def scoped_key(run: Run, kind: str, path: str | None) -> str:
    return f"{kind}:{run.app_id}/{run.function_id}:{key_value(run, path)}"[:300]


def lock_keys(keys: Iterable[str]) -> None:
    """Serialise work on these keys until the transaction ends (sorted: no deadlocks between workers)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for key in sorted(set(keys)):
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_id(key)])


def _lock_id(key: str) -> int:
    return zlib.crc32(key.encode()) - 2**31  # a signed 32-bit id; collisions only serialise unrelated keys


# --- admission of new runs ---------------------------------------------------------------------------------


def admit_txn(runs: list[Run], configs: dict[tuple[str, str], dict[str, Any]], now: datetime) -> list[Run]:
    """Apply flow control to unsaved new runs, in order, before they are inserted.

    Sets concurrency keys, skips rate-limited runs (S18) and delays debounced ones (S19). Returns the runs
    already stored that a new run superseded (debounce), now skipped.
    """
    superseded: list[Run] = []
    admitted_now: dict[str, int] = {}
    pending_here: dict[str, Run] = {}
    for run in runs:
        config = configs.get((run.app_id, run.function_id)) or {}
        concurrency = config.get("concurrency")
        if concurrency:
            run.concurrency_key = scoped_key(run, "c", concurrency.get("key"))
            run.concurrency_limit = int(concurrency["limit"])
        rate = config.get("rate_limit")
        if rate and not _admit_rate_txn(run, rate, now, admitted_now):
            continue
        debounce = config.get("debounce")
        if debounce:
            old = _debounce_txn(run, debounce, now, pending_here)
            if old is not None:
                superseded.append(old)
    return superseded


def _admit_rate_txn(run: Run, rate: dict[str, Any], now: datetime, admitted_now: dict[str, int]) -> bool:
    key = scoped_key(run, "r", rate.get("key"))
    run.rate_key = key
    if key not in admitted_now:
        lock_keys([key])
        window_start = now - timedelta(milliseconds=rate["period_ms"])
        admitted_now[key] = Run.objects.filter(rate_key=key, created_at__gt=window_start).exclude(
            status=RunStatus.SKIPPED).count()
    if admitted_now[key] >= rate["limit"]:
        run.status, run.ready_at, run.ended_at = RunStatus.SKIPPED, None, now
        run.status_reason = (f"rate limited: at most {rate['limit']} runs per {rate['period_ms']} ms "
                             f"for key {key_value(run, rate.get('key'))}")
        return False
    admitted_now[key] += 1
    return True


def _debounce_txn(run: Run, debounce: dict[str, Any], now: datetime, pending_here: dict[str, Run]) -> Run | None:
    """Delay `run` by the debounce period; the run it supersedes (if any) is skipped, naming `run`."""
    key = scoped_key(run, "d", debounce.get("key"))
    run.debounce_key = key
    first_at = now
    superseded = None
    earlier = pending_here.get(key)
    if earlier is not None:  # an earlier event of this very batch
        first_at = earlier.debounce_started_at or now
        _mark_superseded(earlier, run, now)
    else:
        lock_keys([key])
        stored = (Run.objects.select_for_update()
                  .filter(debounce_key=key, status=RunStatus.QUEUED, lease_owner__isnull=True, started_at__isnull=True)
                  .order_by("-created_at").first())
        if stored is not None:
            first_at = stored.debounce_started_at or stored.created_at
            superseded = stored
    pending_here[key] = run
    run.debounce_started_at = first_at
    due = now + timedelta(milliseconds=debounce["period_ms"])
    if debounce.get("timeout_ms"):
        due = min(due, first_at + timedelta(milliseconds=debounce["timeout_ms"]))
    run.ready_at = due
    if superseded is not None:
        Run.objects.filter(id=superseded.id).update(
            status=RunStatus.SKIPPED, ready_at=None, ended_at=now, superseded_by_run_id=run.id,
            status_reason=f"superseded by run {run.id} (debounce)", version=superseded.version + 1)
        superseded.status, superseded.version = RunStatus.SKIPPED, superseded.version + 1
    return superseded


def _mark_superseded(old: Run, new: Run, now: datetime) -> None:
    old.status, old.ready_at, old.ended_at = RunStatus.SKIPPED, None, now
    old.superseded_by_run_id = new.id
    old.status_reason = f"superseded by run {new.id} (debounce)"


# --- concurrency slots ------------------------------------------------------------------------------------


def active_slots(key: str, now: datetime) -> int:
    """Runs of the key holding a live lease: executing right now (waiting runs hold no slot, S17)."""
    return Run.objects.filter(concurrency_key=key, lease_owner__isnull=False, ready_at__gt=now).count()


def release_slot_txn(key: str | None, limit: int, now: datetime) -> None:
    """A run of `key` gave its slot back: make the oldest throttled runs of the key due again, in order."""
    if not key:
        return
    lock_keys([key])
    free = limit - active_slots(key, now)
    if free <= 0:
        return
    waiting = list(Run.objects.filter(concurrency_key=key, throttled=True)
                   .order_by("created_at", "id").values_list("id", "created_at")[:free])
    for run_id, created_at in waiting:
        # Due at its creation time: it sorts before runs that arrived after it (started in order).
        Run.objects.filter(id=run_id, throttled=True).update(throttled=False, ready_at=created_at)
    if waiting:
        from runs.store import notify

        notify.runs_ready()


def over_limit(claims: list[Any], now: datetime) -> set[str]:
    """Of runs just claimed in this transaction, those beyond their key's concurrency limit."""
    keyed = [claim for claim in claims if claim.concurrency_key]
    if not keyed:
        return set()
    lock_keys(claim.concurrency_key for claim in keyed)
    refused: set[str] = set()
    by_key: dict[str, list[Any]] = {}
    for claim in keyed:
        by_key.setdefault(claim.concurrency_key, []).append(claim)
    for key, claims_of_key in by_key.items():
        excess = active_slots(key, now) - claims_of_key[0].concurrency_limit
        if excess > 0:
            refused.update(claim.id for claim in claims_of_key[-excess:])
    return refused


def throttle_txn(run_ids: Iterable[str], fresh_ids: set[str]) -> None:
    """Give claimed runs back as throttled: not due until a slot frees."""
    ids = list(run_ids)
    if not ids:
        return
    Run.objects.filter(id__in=ids).update(lease_owner=None, ready_at=None, throttled=True)
    Run.objects.filter(id__in=[i for i in ids if i in fresh_ids]).update(started_at=None,
                                                                       status=RunStatus.QUEUED)
    Run.objects.filter(Q(id__in=[i for i in ids if i not in fresh_ids])).update(status=RunStatus.WAITING)
