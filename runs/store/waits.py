"""Operator actions on a waiting run's waiting step (issue 11 item 10): end a sleep now, fail an invoke wait,
cancel the child an invoke waits on. (Sending the event a wait_for_event waits for goes through intake.)

A wake or a failed invoke resolves the step exactly as the engine's own resolvers do (an event in intake, a
child's end in ending.py, a deadline in passes.py): a conditional update of the step row, only while it still
waits, so whichever comes first wins and the other changes nothing (nothing applies twice); then the run is
woken (runs/store/rows.py `wake`), due now if no worker holds it, else its holder sees `wakeups` changed when it
commits and replays at once, so a pass in flight loses nothing. Locks are taken in the resolvers' order, the step
row before the run row, so an action racing a child's end or an event never deadlocks with it (a worker's
commit never updates a waiting step, so it takes no lock an action holds). A cancel locks runs before their
steps; the rare deadlock with one is broken by PostgreSQL and the action's transaction runs again (`retrying`).
Cancelling an invoke's child is a cancel of the child, in the cancel's own order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from runs.errors import ErrorRecord
from runs.exceptions import ActionRefused, RunNotFound, StepError
from runs.models import Run, Step
from runs.status import ACTIVE_RUN_STATUSES, StepKind, StepStatus
from runs.store.actions import cancel_targets
from runs.store.cancelling import cancel_runs_txn
from runs.store.intake import announce_txn
from runs.store.rows import wake
from runs.store.transient import retrying

FAILED_BY_OPERATOR = "failed by operator"  # how a failed invoke's error begins (what the parent's code sees)


@dataclass(frozen=True, slots=True)
class CancelledInvoke:
    step_id: str
    child_run_id: str
    cancelled: list[str]  # the child first, then (cascade) its active descendants


def wake_sleep(run_id: str, step_id: str | None = None) -> str:
    """End a waiting sleep now (the run's sleep that ends first when no `step_id`); returns its step id."""
    return retrying(lambda: _wake_sleep_once(run_id, step_id), f"waking a sleep of run {run_id}")


def _wake_sleep_once(run_id: str, step_id: str | None) -> str:
    with transaction.atomic():
        step = _waiting_step(run_id, step_id, StepKind.SLEEP)
        now = timezone.now()
        # What a sleep whose time came stores (runs/store/passes.py `_expire_waits`): completed, no output.
        _settle(step, status=StepStatus.COMPLETED, output=None, ended_at=now, wait_event=None)
        wake([run_id], now)
        return step.step_id


def fail_invoke(run_id: str, step_id: str, *, by: str) -> str:
    """Fail a waiting invoke step as a failed child would (a non-retriable StepError in the parent); the child
    keeps running, as after an invoke timeout (S5). Returns the child's id."""
    return retrying(lambda: _fail_invoke_once(run_id, step_id, by), f"failing an invoke of run {run_id}")


def _fail_invoke_once(run_id: str, step_id: str, by: str) -> str:
    with transaction.atomic():
        step = _waiting_step(run_id, step_id, StepKind.INVOKE)
        now = timezone.now()
        # No run_id in the error: the parent fails by an operator's decision, not because of its child, so the
        # parent is its own root cause (O2), as after a timeout; the message names the child.
        error = ErrorRecord.raised_as(StepError, f"{FAILED_BY_OPERATOR} {by}: the invoke of {step.target} (run "
                                                 f"{step.child_run_id}) was failed; the invoked run keeps running")
        _settle(step, status=StepStatus.FAILED, error=error.to_json(), ended_at=now)
        wake([run_id], now)
        return step.child_run_id or ""


def cancel_invoke(run_id: str, step_id: str, *, cascade: bool, reason: str) -> CancelledInvoke:
    """Cancel the child a waiting invoke step waits on (with `cascade`, its active descendants too); the
    parent's step fails with InvokeCancelledError as after any cancel of its child (S14)."""
    return retrying(lambda: _cancel_invoke_once(run_id, step_id, cascade, reason),
                    f"cancelling an invoke of run {run_id}")


def _cancel_invoke_once(run_id: str, step_id: str, cascade: bool, reason: str) -> CancelledInvoke:
    with transaction.atomic():
        step = _waiting_step(run_id, step_id, StepKind.INVOKE)
        if not step.child_run_id:
            raise ActionRefused(f"step {step.step_id!r} of run {run_id} has no invoked run to cancel")
        # The child's rows are locked (and its state checked) by the cancel itself; its end resolves this step
        # only if it still waits on this very child (ending.py), as for any cancel of a child.
        targets = cancel_targets(step.child_run_id, cascade=cascade, lock=True)
        cancelled, finished = cancel_runs_txn(targets, reason=reason, now=timezone.now())
        announce_txn(finished)
        return CancelledInvoke(step_id=step.step_id, child_run_id=step.child_run_id, cancelled=cancelled)


_WHAT: dict[str, str] = {StepKind.SLEEP: "sleep", StepKind.INVOKE: "invoke"}


def _waiting_step(run_id: str, step_id: str | None, kind: str) -> Step:
    """The active run's waiting step of this kind (named, or the one whose deadline comes first), or a refusal
    that says what is there instead. A read: the step changes only through `_settle`'s conditional update."""
    status = Run.objects.filter(id=run_id).values_list("status", flat=True).first()
    if status is None:
        raise RunNotFound(f"no run with id {run_id!r}")
    if status not in ACTIVE_RUN_STATUSES:
        raise ActionRefused(f"run {run_id} is {status}; only a waiting run's steps can be acted on")
    what = _WHAT.get(kind, kind)
    if step_id is None:
        step = (Step.objects.filter(run_id=run_id, kind=kind, status=StepStatus.WAITING)
                .order_by("deadline", "position").first())
        if step is None:
            raise ActionRefused(f"run {run_id} has no waiting {what}")
        return step
    step = Step.objects.filter(run_id=run_id, step_id=step_id).first()
    if step is None:
        raise ActionRefused(f"run {run_id} has no step {step_id[:200]!r}")
    if step.kind != kind:
        raise ActionRefused(f"step {step_id[:200]!r} of run {run_id} is a {step.kind} step, not a {what}")
    if step.status != StepStatus.WAITING:
        raise ActionRefused(f"step {step_id[:200]!r} of run {run_id} is {step.status}, not waiting")
    return step


def _settle(step: Step, **fields: Any) -> None:
    """Resolve the step if it still waits. One row, its own columns only (no join: PostgreSQL re-checks them on
    the row a concurrent resolver or cancel just committed, so whoever came first wins and this changes nothing)."""
    if not Step.objects.filter(id=step.id, status=StepStatus.WAITING).update(**fields):
        raise ActionRefused(f"step {step.step_id[:200]!r} of run {step.run_id} was resolved meanwhile")
