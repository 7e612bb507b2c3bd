"""Cancelling active runs, in the caller's transaction: operator actions (runs/store/actions.py) and cancel-on
events (runs/store/intake.py) both end runs through here."""

from __future__ import annotations

from datetime import datetime

from runs.errors import ErrorRecord
from runs.exceptions import InvokeCancelledError
from runs.models import Run, Step
from runs.status import RunStatus, StepStatus
from runs.store import flow
from runs.store.ending import Finished, end_run_txn

_CANCELLED_STEP = ErrorRecord.raised_as(InvokeCancelledError, "the run was cancelled", name="Cancelled").to_json()


def cancel_runs_txn(targets: list[Run], *, reason: str, now: datetime) -> tuple[list[str], list[Finished]]:
    """Cancel active runs (rows locked by the caller). Leaves first, so a parent in the set ends cancelled
    rather than failed by its child; a parent outside the set that waits on one gets S14.

    Returns the ids cancelled and their finished events, which the caller has intake dispatch."""
    cancelled: list[str] = []
    finished: list[Finished] = []
    for target in sorted(targets, key=lambda r: -r.depth):
        Step.objects.filter(run_id=target.id, status=StepStatus.WAITING).update(
            status=StepStatus.FAILED, ended_at=now, wait_event=None, error=_CANCELLED_STEP)
        event = end_run_txn(target, RunStatus.CANCELLED, now=now, reason=reason)
        if event is not None:
            finished.append(event)
        # Executing, it frees its slot; queued, it may have been woken for a freed slot: pass that on.
        flow.release_slot_txn(target.concurrency_key, target.concurrency_limit, now)
        cancelled.append(target.id)
    return cancelled, finished
