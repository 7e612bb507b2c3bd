"""Flow control per function: concurrency limits, rate limits, debounce (S17-S19), applied inside the store's
transactions. Each invoked child goes through its own function's rules, not its parent's.

Serialising per key: PostgreSQL takes a transaction-scoped advisory lock on the key, so two workers never
count the same slots at once; SQLite's IMMEDIATE transactions already run one writer at a time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import F, Q

from runs.limits import MAX_KEY_CHARS
from runs.models import Run
from runs.status import ACTIVE_RUN_STATUSES, RunStatus
from runs.store import notify
from runs.store.backends import backend
from runs.values import lookup_path


def key_value(run: Run, path: str | None) -> str:
    """The JSON text of the event field a key names (`event.data.user_id`); a missing field is null."""
    event = {"data": run.event_data, "user": run.event_user, "name": run.event_name, "id": run.event_id}
    value = lookup_path({"event": event}, path) if path else None
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def scoped_key(run: Run, kind: str, path: str | None) -> str:
    """The stored key of a run's flow-control rule. One longer than its column keeps a readable prefix and ends
    in a digest of the whole: cutting it short would make distinct keys share one slot or one window."""
    key = f"{kind}:{run.app_id}/{run.function_id}:{key_value(run, path)}"
    if len(key) <= MAX_KEY_CHARS:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[:MAX_KEY_CHARS - len(digest) - 1]}~{digest}"


def lock_keys(keys: Iterable[str]) -> None:
    """Serialise work on these keys until the transaction ends (sorted: no deadlocks between workers).
    PostgreSQL: advisory locks; SQLite: its single writer already does (runs/store/backends.py)."""
    backend().lock_keys(connection, keys)


# --- admission of new runs ---------------------------------------------------------------------------------


def admit_txn(runs: list[Run], configs: dict[tuple[str, str], dict[str, Any]], now: datetime) -> list[Run]:
    """Apply flow control to unsaved new runs, in order, before they are inserted.

    Sets concurrency keys, skips rate-limited runs (S18) and delays debounced ones (S19). Returns the runs
    already stored that a new run superseded (debounce), now skipped.
    """
    superseded: list[Run] = []
    admitted_now: dict[str, int] = {}
    pending_here: dict[str, Run] = {}
    # Every rate and debounce key of the batch locked at once, sorted: two batches never lock in opposite orders.
    keys = []
    for run in runs:
        config = configs.get((run.app_id, run.function_id)) or {}
        for kind, rule in (("r", config.get("rate_limit")), ("d", config.get("debounce"))):
            if rule:
                keys.append(scoped_key(run, kind, rule.get("key")))
    lock_keys(keys)
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
        # Runs it had absorbed now point at the run that will execute: the dashboard names the final one (S13).
        Run.objects.filter(superseded_by_run_id=superseded.id).update(
            superseded_by_run_id=run.id, status_reason=f"superseded by run {run.id} (debounce)")
        # It may have been woken for a freed concurrency slot: pass that wake-up on.
        release_slot_txn(superseded.concurrency_key, superseded.concurrency_limit, now)
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
    # Only runs still waiting for a slot: a throttled run may have been cancelled since (never wake those).
    waiting = list(Run.objects.filter(concurrency_key=key, throttled=True, lease_owner__isnull=True,
                                      status__in=list(ACTIVE_RUN_STATUSES))
                   .order_by("created_at", "id").values_list("id", "created_at")[:limit])
    if not waiting:
        return  # (the usual case: one query, and no count of the slots)
    waiting = waiting[:max(0, limit - active_slots(key, now))]
    for run_id, created_at in waiting:
        # Due at its creation time: it sorts before runs that arrived after it (started in order).
        Run.objects.filter(id=run_id, throttled=True, lease_owner__isnull=True).update(
            throttled=False, ready_at=created_at)
    if waiting:
        notify.runs_ready()


def over_limit(claims: list[Any], created: dict[str, datetime], now: datetime) -> tuple[set[str], set[str]]:
    """Of runs just claimed in this transaction (`created`: their creation times), those that must not start
    now, as (throttled, again).

    Throttled: every slot of the key is taken; a release wakes them, oldest first. Again (due at once, for
    any thread): the free slots are all needed by older runs of the key whose claims are in flight in other
    transactions (they must win: runs start in order), or this batch already starts one run
    of the key (a batch executes one run after another, so a second slot would sit idle meanwhile).
    """
    keyed = [claim for claim in claims if claim.concurrency_key]
    if not keyed:
        return set(), set()
    lock_keys(claim.concurrency_key for claim in keyed)
    batch_ids = [claim.id for claim in keyed]
    by_key: dict[str, list[Any]] = {}
    for claim in sorted(keyed, key=lambda c: (created[c.id], c.id)):
        by_key.setdefault(claim.concurrency_key, []).append(claim)
    throttled: set[str] = set()
    again: set[str] = set()
    for key, (first, *rest) in by_key.items():
        held, older = _slots_of(key, first.id, created[first.id], batch_ids, now, first.concurrency_limit)
        if held >= first.concurrency_limit:
            throttled.update(claim.id for claim in (first, *rest))
        elif held + older >= first.concurrency_limit:
            again.update(claim.id for claim in (first, *rest))  # the free slots are for the older due runs
        else:
            again.update(claim.id for claim in rest)
    return throttled, again


def _slots_of(key: str, run_id: str, created_at: datetime, batch_ids: list[str], now: datetime,
              limit: int) -> tuple[int, int]:
    """(slots of `key` held by executing runs, older runs of `key` whose claims are in flight right now: they
    take the free slots first, so runs start in order of arrival).

    In flight: due and row-locked by another transaction, which commits within milliseconds. An older due
    run nobody is claiming does not count: deferring to it could wait forever (it may sort after this one in
    the claim order). SQLite runs one writer at a time, so nothing is ever in flight there.
    """
    held = Run.objects.filter(concurrency_key=key, lease_owner__isnull=False, ready_at__gt=now).exclude(
        id__in=batch_ids).count()
    if not backend().has_concurrent_writers or held >= limit:
        return held, 0
    older = list(Run.objects.filter(concurrency_key=key, status__in=list(ACTIVE_RUN_STATUSES), ready_at__lte=now)
                 .filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=run_id))
                 .exclude(id__in=batch_ids).order_by("created_at", "id").values_list("id", flat=True)[:limit])
    if not older:
        return held, 0
    return held, len(older) - backend().unlocked_runs(connection, older)


def give_back_txn(run_ids: Iterable[str], fresh_ids: set[str]) -> None:
    """Give claimed runs back unexecuted and due at once (at their creation time: the order of arrival)."""
    ids = list(run_ids)
    if not ids:
        return
    Run.objects.filter(id__in=ids).update(lease_owner=None, ready_at=F("created_at"), throttled=False)
    _restore_status(ids, fresh_ids)
    notify.runs_ready()


def throttle_txn(run_ids: Iterable[str], fresh_ids: set[str]) -> None:
    """Give claimed runs back as throttled: not due until a slot frees."""
    ids = list(run_ids)
    if not ids:
        return
    Run.objects.filter(id__in=ids).update(lease_owner=None, ready_at=None, throttled=True)
    _restore_status(ids, fresh_ids)


def _restore_status(ids: list[str], fresh_ids: set[str]) -> None:
    """Undo the claim's status: a run never started is queued again; a started one waits (holds no slot)."""
    Run.objects.filter(id__in=[i for i in ids if i in fresh_ids]).update(started_at=None, status=RunStatus.QUEUED)
    Run.objects.filter(id__in=[i for i in ids if i not in fresh_ids]).update(status=RunStatus.WAITING)
