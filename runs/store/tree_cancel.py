"""Cancelling a big subtree (O3 with descendants) in batches, so no transaction holds a tree's locks for long.

A cascading cancel of fewer than CANCEL_BATCH runs stays one transaction (runs/store/actions.py). Past CANCEL_BATCH
runs, one transaction would lock and end every run of the tree at once: 100,000 runs took minutes, during
which every worker touching the tree waited. Here the tree is ended top-down, CANCEL_BATCH runs per
transaction and at most about TXN_SECONDS, each run locked and re-checked before it is ended:

- top-down keeps the result a single transaction gives: a run is cancelled before its children, so when a
  child is cancelled later its parent's invoke step has already failed with the parent (no wake-up of a
  cancelled parent, and no parent failed by its child instead of cancelled);
- lease-safe: a cancelled run loses its lease, so its worker's next commit fails and it starts no new child;
  a run not yet reached may still finish (then it is not active when its batch locks it, and is skipped) or
  start children, which the next round finds. Rounds repeat until one finds nothing new.
"""

from __future__ import annotations

import time
from functools import partial

from django.db import transaction
from django.utils import timezone

from runs.models import Run
from runs.status import ACTIVE_RUN_STATUSES
from runs.store import transient
from runs.store.cancelling import cancel_runs_txn
from runs.store.intake import announce_txn

CANCEL_BATCH = 100  # most runs per transaction, and the size from which a cascading cancel goes in batches
TXN_SECONDS = 0.25  # a batch commits once it has run this long (the bound on a transaction is 1 s)
CHUNK = 10  # runs locked and ended at a time inside a batch, between two looks at the clock


def active_descendants(run_id: str, root_run_id: str, done: set[str]) -> list[str]:
    """Ids of the active runs below `run_id` (invoke edges), shallowest first; a read, nothing locked.

    The walk goes through active runs and the runs this cancel already ended (`done`), never through a run
    that finished by itself (a child left running by its parent's invoke timeout is not the cancel's)."""
    active = {str(status) for status in ACTIVE_RUN_STATUSES}
    rows = Run.objects.filter(root_run_id=root_run_id).values_list("id", "parent_run_id", "status")
    children: dict[str, list[tuple[str, bool]]] = {}
    for node_id, parent_id, status in rows.iterator(chunk_size=5000):
        if parent_id:
            children.setdefault(parent_id, []).append((node_id, status in active))
    return below(run_id, children, done)


def below(run_id: str, children: dict[str, list[tuple[str, bool]]], done: set[str]) -> list[str]:
    """Breadth-first from `run_id`: the active nodes not in `done`, through active or `done` nodes (pure)."""
    found, frontier = [], [run_id]
    while frontier:
        following = []
        for parent in frontier:
            for child, is_active in children.get(parent, []):
                if child in done or is_active:
                    following.append(child)
                    if is_active and child not in done:
                        found.append(child)
        frontier = following
    return found


def cancel_descendants(run_id: str, root_run_id: str, done: set[str], *, reason: str) -> list[str]:
    """Cancel the active descendants of `run_id` (itself cancelled and committed already, in `done`),
    shallowest first, in transactions of at most CANCEL_BATCH runs and about TXN_SECONDS; returns the ids
    cancelled."""
    cancelled: list[str] = []
    while True:
        pending = active_descendants(run_id, root_run_id, done)
        if not pending:
            return cancelled
        position = 0
        while position < len(pending):
            # A deadlock with a worker's pass or a lost connection rolls a batch back: it is run again
            # (it re-locks and re-checks its runs, so running it twice cancels nothing twice).
            ended, position = transient.retrying(partial(_batch, pending, position, reason),
                                                 "cancel a subtree batch")
            cancelled += ended
        done.update(pending)  # ended or found finished: either way not to be looked for again


def _batch(pending: list[str], position: int, reason: str) -> tuple[list[str], int]:
    with transaction.atomic():
        return _cancel_for_a_while(pending, position, reason)


def _cancel_for_a_while(pending: list[str], position: int, reason: str) -> tuple[list[str], int]:
    """In the caller's transaction: cancel pending runs from `position`, CHUNK at a time, until CANCEL_BATCH
    runs or TXN_SECONDS (a loaded machine is slower per run: the time bounds the transaction, not the count).
    Returns the ids cancelled and where the next transaction starts."""
    started, ended = time.monotonic(), []
    end = min(len(pending), position + CANCEL_BATCH)
    while True:  # at least one chunk per transaction, however slow
        chunk = pending[position:min(end, position + CHUNK)]
        position += len(chunk)
        # Re-checked under the lock: a run that ended since the read is not cancelled.
        targets = list(Run.objects.select_for_update().filter(id__in=chunk, status__in=list(ACTIVE_RUN_STATUSES)))
        chunk_ended, finished = cancel_runs_txn(targets, reason=reason, now=timezone.now())
        announce_txn(finished)
        ended += chunk_ended
        if position >= end or time.monotonic() - started >= TXN_SECONDS:
            return ended, position
