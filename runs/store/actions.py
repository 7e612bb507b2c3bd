"""Operator actions on runs: cancel (and, with the operator-actions issue, retry)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from runs.exceptions import ActionRefused, RunNotFound
from runs.models import Run, Step
from runs.status import ACTIVE_RUN_STATUSES, RunStatus, StepStatus
from runs.store import flow
from runs.store.ending import end_run_txn


def cancel_run(run_id: str, *, cascade: bool = False, reason: str = "cancelled") -> list[str]:
    """Cancel a queued, running or waiting run (and with `cascade`, its active descendants).

    Returns the ids cancelled. A run being executed stops at its next step boundary: its worker's commit
    sees the status and starts nothing new.
    """
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(id=run_id).first()
        if run is None:
            raise RunNotFound(f"no run with id {run_id!r}")
        if run.status not in ACTIVE_RUN_STATUSES:
            raise ActionRefused(f"run {run_id} is {run.status}; only queued, running or waiting runs can be cancelled")
        targets = [run]
        if cascade:
            targets += _active_descendants(run)
        return cancel_runs_txn(targets, reason=reason, now=timezone.now())


def cancel_runs_txn(targets: list[Run], *, reason: str, now: datetime) -> list[str]:
    """Cancel active runs (rows locked by the caller). Leaves first, so a parent in the set ends cancelled
    rather than failed by its child; a parent outside the set that waits on one gets S14."""
    cancelled = []
    for target in sorted(targets, key=lambda r: -r.depth):
        Step.objects.filter(run_id=target.id, status=StepStatus.WAITING).update(
            status=StepStatus.FAILED, ended_at=now, wait_event=None,
            error={"type": "InvokeCancelledError", "name": "Cancelled", "message": "the run was cancelled",
                   "stack": None})
        end_run_txn(target, RunStatus.CANCELLED, now=now, reason=reason)
        if target.lease_owner:  # it was executing: its concurrency slot is free now
            flow.release_slot_txn(target.concurrency_key, target.concurrency_limit, now)
        cancelled.append(target.id)
    return cancelled


def _active_descendants(run: Run) -> list[Run]:
    """Active runs below `run` in its invocation tree: one query for the tree, then a walk in memory."""
    tree = list(Run.objects.select_for_update().filter(root_run_id=run.root_run_id,
                                                       status__in=list(ACTIVE_RUN_STATUSES)))
    children: dict[str, list[Run]] = {}
    for node in tree:
        if node.parent_run_id:
            children.setdefault(node.parent_run_id, []).append(node)
    found, frontier = [], [run.id]
    while frontier:
        for child in children.get(frontier.pop(), []):
            found.append(child)
            frontier.append(child.id)
    return found
