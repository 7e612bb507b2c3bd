"""Data retention: delete finished run trees, with their steps and events, once their last run ended long ago.

A tree is a root run and every run it invoked, at any depth (one `root_run_id`). A tree is pruned whole or not
at all, and only when every run of it is terminal: a timed-out invoke's child may still run under a failed root
(S5), and an operator may retry any failed run of it (O4). Runs started by `send_event` and reruns from the
start are their own trees (O1b, O4); a tree stays while an unfinished tree links to it (triggered by, rerun of,
superseded by), so the story an operator is following does not lose its beginning.

Each batch is one short transaction that locks the rows it deletes (PostgreSQL: FOR UPDATE SKIP LOCKED, and
a tree with a row someone else holds is left for the next prune; SQLite: the IMMEDIATE transaction is the
single writer). An operator's retry or rerun of a run in the batch therefore either commits first (the run
is active, or a new run links to it: the tree stays) or waits and then finds no run (RunNotFound).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from runs import conf
from runs.durations import parse_duration
from runs.exceptions import PruneRefused
from runs.models import Event, Incident, OperatorAction, OperatorActionRun, Run, Step
from runs.status import ACTIVE_RUN_STATUSES, TERMINAL_RUN_STATUSES
from runs.store import audit, flow

PRUNE_ACTION = "prune"  # the audit record of a prune, which is also the hourly marker
PRUNE_EVERY = timedelta(hours=1)
MAX_BATCH = 10_000  # runs per transaction: short locks, and query parameters within SQLite's limit
_HAS_UNIT = re.compile(r"[a-z]\s*$", re.IGNORECASE)
_LINKS = ("rerun_of_run_id", "triggered_by_run_id", "superseded_by_run_id")
_IDS_PER_QUERY = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneResult:
    """What a prune deleted (or, in a dry run, would delete)."""

    trees: int = 0
    runs: int = 0
    steps: int = 0
    events: int = 0
    dry_run: bool = False

    def __add__(self, other: PruneResult) -> PruneResult:
        return PruneResult(trees=self.trees + other.trees, runs=self.runs + other.runs,
                           steps=self.steps + other.steps, events=self.events + other.events,
                           dry_run=self.dry_run)

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        return f"{verb} {self.trees} trees: {self.runs} runs, {self.steps} steps, {self.events} events"


def parse_age(value: str | timedelta) -> timedelta:
    """An age such as "30d", "12h" or "90m" (a unit is required: a bare number is most likely a mistake)."""
    if isinstance(value, timedelta):
        age = value
    elif isinstance(value, str) and _HAS_UNIT.search(value):
        try:
            age = parse_duration(value)
        except (ValueError, OverflowError):
            raise PruneRefused(f"{value!r} is not an age; use e.g. 30d, 12h or 90m") from None
    else:
        raise PruneRefused(f"{value!r} is not an age; use e.g. 30d, 12h or 90m (with a unit)")
    if age <= timedelta(0):
        raise PruneRefused(f"the age must be positive, not {value!r}")
    return age


def prune(older_than: timedelta, *, batch_size: int = 500, now: datetime | None = None,
          dry_run: bool = False) -> PruneResult:
    """Delete every finished tree whose last run ended before `now - older_than`, with its steps, its audit
    links and the events no remaining run refers to; then old events that no run refers to at all.

    A batch holds at most `batch_size` trees and `batch_size` runs (a bigger tree goes alone: a tree is never
    cut in two). `dry_run` does every batch and rolls it back.
    """
    older_than = parse_age(older_than)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
        raise PruneRefused(f"the batch size must be an integer from 1 to {MAX_BATCH}, not {batch_size!r}")
    try:
        cutoff = (now or timezone.now()) - older_than
    except OverflowError:
        return PruneResult(dry_run=dry_run)  # older than anything that can be stored: nothing is
    result = PruneResult(dry_run=dry_run)
    after: tuple[datetime, str] | None = None
    while True:
        roots = _oldest_roots(cutoff, after, batch_size)
        if not roots:
            break
        with transaction.atomic():
            taken = _fit_batch(roots, batch_size)
            result += _prune_trees_txn([root_id for root_id, _ in taken], cutoff, dry_run)
            transaction.set_rollback(dry_run)
        last_id, last_end = taken[-1]
        after = (last_end, last_id)
    result += _prune_orphan_events(cutoff, batch_size, dry_run)
    if not dry_run:
        _prune_stale_incidents(cutoff)
    return result


def _prune_stale_incidents(cutoff: datetime) -> None:
    """Incidents whose last failure is older than the cutoff and whose roots are all gone: nothing links to them
    any more (one whose run was kept, e.g. still linked from an unfinished tree, stays with it)."""
    with transaction.atomic():
        Incident.objects.filter(last_seen__lt=cutoff).exclude(
            Exists(Run.objects.filter(incident_id=OuterRef("id")))).delete()


# --- trees --------------------------------------------------------------------------------------------------


def _oldest_roots(cutoff: datetime, after: tuple[datetime, str] | None, limit: int) -> list[tuple[str, datetime]]:
    """The next finished roots that ended before the cutoff, oldest first after `after` (index run_root_ended).
    Walking on past the last one looked at, a tree kept this time (still running) is not looked at again."""
    roots = Run.objects.filter(parent_run_id__isnull=True, ended_at__lt=cutoff,
                               status__in=list(TERMINAL_RUN_STATUSES))
    if after is not None:
        roots = roots.filter(Q(ended_at__gt=after[0]) | Q(ended_at=after[0], id__gt=after[1]))
    rows = roots.order_by("ended_at", "id").values_list("id", "ended_at")[:limit]
    return [(root_id, ended_at) for root_id, ended_at in rows if ended_at is not None]  # (not null: filtered)


def _fit_batch(roots: list[tuple[str, datetime]], batch_size: int) -> list[tuple[str, datetime]]:
    """The first roots whose trees hold at most `batch_size` runs together (at least the first tree)."""
    sizes: dict[str, int] = {}
    for root_id in Run.objects.filter(root_run_id__in=[r for r, _ in roots]).values_list("root_run_id", flat=True):
        sizes[root_id] = sizes.get(root_id, 0) + 1
    taken: list[tuple[str, datetime]] = []
    total = 0
    for root in roots:
        total += sizes.get(root[0], 0)
        if taken and total > batch_size:
            break
        taken.append(root)
    return taken


def _prune_trees_txn(root_ids: list[str], cutoff: datetime, dry_run: bool) -> PruneResult:
    """Lock the trees' runs, keep the ones that are not wholly finished and old (or that an unfinished tree
    links to), delete the rest. Inside the batch's transaction."""
    locked: dict[str, list[tuple[str, str, datetime | None]]] = {}
    for run_id, root_id, status, ended_at in (
            Run.objects.select_for_update(skip_locked=True).filter(root_run_id__in=root_ids).order_by("id")
            .values_list("id", "root_run_id", "status", "ended_at")):
        locked.setdefault(root_id, []).append((run_id, status, ended_at))
    members: dict[str, set[str]] = {}
    for run_id, root_id in Run.objects.filter(root_run_id__in=root_ids).values_list("id", "root_run_id"):
        members.setdefault(root_id, set()).add(run_id)
    finished = {
        root_id: {run_id for run_id, _, _ in runs} for root_id, runs in locked.items()
        # Every run locked by us (none held by a retry in progress), terminal, and ended before the cutoff.
        if {run_id for run_id, _, _ in runs} == members.get(root_id)
        and all(status in TERMINAL_RUN_STATUSES and ended_at is not None and ended_at < cutoff
                for _, status, ended_at in runs)
    }
    linked = _linked_from_unfinished_trees({run_id for ids in finished.values() for run_id in ids})
    doomed = [root_id for root_id, ids in finished.items() if not ids & linked]
    if not doomed:
        return PruneResult(dry_run=dry_run)
    return _delete_trees_txn(doomed, dry_run)


def _linked_from_unfinished_trees(run_ids: set[str]) -> set[str]:
    """The runs among `run_ids` that a run of a tree still in progress links to (rerun of, triggered by,
    superseded by)."""
    links: list[tuple[Any, ...]] = []
    for ids in _chunks(run_ids):
        links += Run.objects.filter(Q(rerun_of_run_id__in=ids) | Q(triggered_by_run_id__in=ids)
                                    | Q(superseded_by_run_id__in=ids)).values_list("root_run_id", *_LINKS)
    unfinished: set[str] = set()
    for roots in _chunks({row[0] for row in links}):  # (debounce: many skipped roots may name one run)
        unfinished.update(Run.objects.filter(root_run_id__in=roots, status__in=list(ACTIVE_RUN_STATUSES))
                          .values_list("root_run_id", flat=True))
    return {target for root_id, *targets in links if root_id in unfinished for target in targets
            if target in run_ids}


def _chunks(ids: set[str]) -> Iterator[list[str]]:
    """Ids in lists short enough for one query (a big tree can have more than SQLite takes at once)."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), _IDS_PER_QUERY):
        yield ordered[start:start + _IDS_PER_QUERY]


def _delete_trees_txn(root_ids: list[str], dry_run: bool) -> PruneResult:
    tree = Run.objects.filter(root_run_id__in=root_ids)
    # Events first, while the runs that name them are there to say which: the trees' own events and the ones
    # their steps sent, unless a run of another tree was started by it.
    elsewhere = Exists(Run.objects.filter(event_id=OuterRef("id")).exclude(root_run_id__in=root_ids))
    events = Event.objects.filter(id__in=tree.values("event_id")).exclude(elsewhere).delete()[0]
    events += Event.objects.filter(~Q(sent_by_run_id=""), sent_by_run_id__in=tree.values("id")).exclude(
        elsewhere).delete()[0]
    # The audit records stay (who did what, when); only their per-run lookup rows go with the runs.
    OperatorActionRun.objects.filter(run_id__in=tree.values("id")).delete()
    steps = Step.objects.filter(run__root_run_id__in=root_ids).delete()[0]
    runs = tree.only("id").delete()[0]
    return PruneResult(trees=len(root_ids), runs=runs, steps=steps, events=events, dry_run=dry_run)


# --- events no run refers to ------------------------------------------------------------------------------


def _prune_orphan_events(cutoff: datetime, batch_size: int, dry_run: bool) -> PruneResult:
    """Events received before the cutoff that no run refers to and whose sender is gone: events that started
    no run (e.g. only resolved a wait_for_event) and any a concurrent prune left behind."""
    result = PruneResult(dry_run=dry_run)
    after: tuple[datetime, str] | None = None
    while True:
        page = Event.objects.filter(received_at__lt=cutoff)
        if after is not None:
            page = page.filter(Q(received_at__gt=after[0]) | Q(received_at=after[0], id__gt=after[1]))
        batch = list(page.order_by("received_at", "id").values_list("received_at", "id")[:batch_size])
        if not batch:
            return result
        after = batch[-1]
        with transaction.atomic():
            orphans = Event.objects.filter(id__in=[event_id for _, event_id in batch]).exclude(
                Exists(Run.objects.filter(event_id=OuterRef("id")))).exclude(
                Exists(Run.objects.filter(id=OuterRef("sent_by_run_id"))))
            result += PruneResult(events=orphans.delete()[0], dry_run=dry_run)
            transaction.set_rollback(dry_run)


# --- hourly, from the worker ----------------------------------------------------------------------------------


def configured_age() -> timedelta | None:
    """The RUNS_PRUNE_OLDER_THAN setting as an age; None when pruning is off."""
    value: Any = conf.get("RUNS_PRUNE_OLDER_THAN")
    if value is None or value == "":
        return None
    try:
        return parse_age(value)
    except PruneRefused as exc:
        raise PruneRefused(f"RUNS_PRUNE_OLDER_THAN: {exc}") from None


def prune_if_due(now: datetime | None = None) -> PruneResult | None:
    """Prune by the RUNS_PRUNE_OLDER_THAN setting if no prune started in this database within the hour.

    Any number of workers may call this often: the last prune's audit record is the marker, and taking a
    turn is serialised (PostgreSQL advisory lock; SQLite's single writer), so one of them prunes per hour.
    Returns None when it is off or not due. A long backlog takes as long as its batches: call it where that
    does not hold up lease renewals.
    """
    age = configured_age()
    if age is None:
        return None
    now = now or timezone.now()
    turn = _take_turn(now, age)
    if turn is None:
        return None
    try:
        result = prune(age, now=now)
    except BaseException:
        audit.finish(turn, outcome="failed", processed=0, detail="the prune failed; see the worker's log")
        raise
    audit.finish(turn, outcome="done", processed=result.runs, detail=result.summary())
    return result


def _take_turn(now: datetime, age: timedelta) -> OperatorAction | None:
    """The audit record of a prune starting now, or None if one started within the hour."""
    recent = OperatorAction.objects.filter(action=PRUNE_ACTION, created_at__gt=now - PRUNE_EVERY)
    if recent.exists():  # the common case, without a lock
        return None
    with transaction.atomic():
        flow.lock_keys(["runs:prune"])
        if recent.exists():
            return None
        return record_prune("system", age, outcome="running")


def record_prune(user: Any, age: timedelta, *, outcome: str = "done", result: PruneResult | None = None,
                 ) -> OperatorAction:
    """The audit record of a prune (O6): who pruned what older than which age."""
    detail = f"runs older than {age}" + (f": {result.summary()}" if result is not None else "")
    return audit.record_action(user=user, action=PRUNE_ACTION, run_ids=[], outcome=outcome, detail=detail,
                               processed=result.runs if result is not None else 0)
