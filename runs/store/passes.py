"""Loading a claimed run's steps and committing what one pass did, each in one transaction.

Every commit first checks the lease: a worker that lost its run to another worker writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from runs.domain import ClaimedRun
from runs.engine.ops import (
    EventsSent,
    InvokePlanned,
    Outcome,
    RunFailed,
    RunFinished,
    SleepPlanned,
    StepCompleted,
    StepFailed,
    StepMemo,
    StepOp,
    WaitPlanned,
)
from runs.exceptions import LeaseLost
from runs.ids import new_id
from runs.models import Function, Run, Step
from runs.sdk.app import FUNCTION_INVOKED
from runs.status import RunStatus, StepKind, StepStatus
from runs.store import notify
from runs.store.ending import end_run_txn
from runs.store.intake import dispatch_events_txn
from runs.store.rows import ParentLink, new_run

_STEP_FIELDS = ("step_id", "kind", "status", "output", "error", "attempts", "target", "position", "deadline",
                "child_run_id")


def load_memo(claim: ClaimedRun) -> dict[str, StepMemo]:
    """The run's recorded steps; waits whose deadline passed are settled first (S5, S11)."""
    if not claim.has_steps:
        return {}
    rows = list(Step.objects.filter(run_id=claim.id).values(*_STEP_FIELDS))
    now = timezone.now()
    if any(r["status"] == StepStatus.WAITING and r["deadline"] and r["deadline"] <= now for r in rows):
        with transaction.atomic():
            _locked_run(claim)
            _expire_waits_txn(claim.id, now)
        rows = list(Step.objects.filter(run_id=claim.id).values(*_STEP_FIELDS))
    return {r["step_id"]: StepMemo(step_id=r["step_id"], kind=r["kind"], status=r["status"], output=r["output"],
                                   error=r["error"], attempts=r["attempts"], target=r["target"],
                                   position=r["position"], deadline=r["deadline"]) for r in rows}


def _expire_waits_txn(run_id: str, now: datetime) -> None:
    for step in Step.objects.filter(run_id=run_id, status=StepStatus.WAITING, deadline__lte=now):
        step.ended_at = now
        step.wait_event = None
        if step.kind == StepKind.INVOKE:
            step.status = StepStatus.FAILED
            step.error = {
                "type": "InvokeTimeoutError", "name": "InvokeTimeoutError", "stack": None,
                "message": f"invoked function {step.target} (run {step.child_run_id}) did not finish before the "
                           f"step's timeout; the invoked run keeps running",
                "run_id": step.child_run_id,
            }
        else:
            step.status = StepStatus.COMPLETED  # a sleep ends; a wait for an event returns None
            step.output = None
        step.save(update_fields=["status", "error", "output", "ended_at", "wait_event"])


def commit_checkpoint(claim: ClaimedRun, ops: Sequence[StepOp]) -> None:
    """Make steps durable mid-pass, before the function's next side effect starts."""
    with transaction.atomic():
        run = _locked_run(claim)
        if run.status == RunStatus.CANCELLED:
            _apply_ops_txn(run, [op for op in ops if isinstance(op, StepCompleted | StepFailed)])
            return
        _apply_ops_txn(run, ops)
        if any(isinstance(op, StepFailed | StepCompleted) for op in ops):
            Run.objects.filter(id=run.id).update(attempts=_attempts(run, ops))


def finish_pass(claim: ClaimedRun, ops: Sequence[StepOp], outcome: Outcome,
                memo: dict[str, StepMemo]) -> None:
    """Commit a pass's remaining steps and its outcome; release the lease."""
    with transaction.atomic():
        run = _locked_run(claim)
        now = timezone.now()
        if run.status == RunStatus.CANCELLED:
            # Cancelled mid-pass: a step that was executing keeps its result; nothing new is started.
            _apply_ops_txn(run, [op for op in ops if isinstance(op, StepCompleted | StepFailed)])
            Run.objects.filter(id=run.id).update(lease_owner=None, ready_at=None)
            return
        replay_now = _apply_ops_txn(run, ops)
        attempts = _attempts(run, ops)
        if isinstance(outcome, RunFinished):
            end_run_txn(run, RunStatus.COMPLETED, now=now, output=outcome.output, attempts=attempts)
        elif isinstance(outcome, RunFailed) and outcome.retry_at is None:
            end_run_txn(run, RunStatus.FAILED, now=now, error=outcome.error, attempts=attempts,
                        cause_run_id=outcome.cause_run_id)
        else:
            _suspend_txn(run, claim, ops, outcome, memo, now, attempts, replay_now)


def _suspend_txn(run: Run, claim: ClaimedRun, ops: Sequence[StepOp], outcome: Outcome,
                 memo: dict[str, StepMemo], now: datetime, attempts: int, replay_now: bool) -> None:
    """The run waits: for a retry, a timer, a child or an event. Schedule its next replay."""
    body_failures = run.body_failures
    due: list[datetime] = []
    if isinstance(outcome, RunFailed):  # the body failed, another attempt is due
        body_failures += 1
        attempts = max(attempts, body_failures + 1)
        due.append(outcome.retry_at or now)
    resolved_here = {op.step_id for op in ops if isinstance(op, StepCompleted | StepFailed)}
    waiting = [m.deadline for m in memo.values()
               if m.status == StepStatus.WAITING and m.deadline and m.step_id not in resolved_here]
    waiting += [op.deadline for op in ops if isinstance(op, InvokePlanned | WaitPlanned)]
    waiting += [op.until for op in ops if isinstance(op, SleepPlanned)]
    due += [op.retry_at for op in ops if isinstance(op, StepFailed) and op.retry_at]
    if replay_now or run.wakeups != claim.wakeups:
        due.append(now)  # a step resolved while this pass ran: look again at once
    retrying = bool(due) and not waiting
    ready_at = min(due + waiting) if (due or waiting) else None
    Run.objects.filter(id=run.id).update(
        status=RunStatus.RUNNING if retrying else RunStatus.WAITING,
        ready_at=ready_at, lease_owner=None, attempts=attempts, body_failures=body_failures,
        version=F("version") + 1,
        error=outcome.error if isinstance(outcome, RunFailed) else run.error,
    )
    if ready_at is not None and ready_at <= now:
        notify.runs_ready()


def _locked_run(claim: ClaimedRun) -> Run:
    run = Run.objects.select_for_update().filter(id=claim.id).first()
    if run is None or run.lease_owner != claim.lease_owner:
        raise LeaseLost(f"run {claim.id} is no longer held by {claim.lease_owner}")
    return run


def _attempts(run: Run, ops: Sequence[StepOp]) -> int:
    step_attempts = [op.attempt for op in ops if isinstance(op, StepCompleted | StepFailed)]
    return max([run.attempts, run.body_failures + 1, *step_attempts])


def _apply_ops_txn(run: Run, ops: Sequence[StepOp]) -> bool:
    """Write the step ops. Returns True when the run must replay at once (an invoke failed at once)."""
    now = timezone.now()
    new_steps: list[Step] = []
    children: list[Run] = []
    replay_now = False
    invokes = [op for op in ops if isinstance(op, InvokePlanned)]
    known = _registered({(op.app_id, op.function_id) for op in invokes})
    for op in ops:
        if isinstance(op, StepCompleted | StepFailed):
            _record_attempt_txn(run, op, new_steps)
        elif isinstance(op, InvokePlanned):
            error = _invoke_refusal(run, op, known)
            step = Step(run_id=run.id, step_id=op.step_id, kind=StepKind.INVOKE, position=op.position,
                        target=f"{op.app_id}/{op.function_id}", input={"data": op.data, "user": op.user},
                        deadline=op.deadline, started_at=now, attempts=1)
            if error:
                step.status, step.error, step.ended_at = StepStatus.FAILED, error, now
                replay_now = True
            else:
                child = _child_run(run, op, now)
                children.append(child)
                step.status, step.child_run_id = StepStatus.WAITING, child.id
            new_steps.append(step)
        elif isinstance(op, SleepPlanned):
            new_steps.append(Step(run_id=run.id, step_id=op.step_id, kind=StepKind.SLEEP, position=op.position,
                                  status=StepStatus.WAITING, deadline=op.until, started_at=now, attempts=1))
        elif isinstance(op, WaitPlanned):
            new_steps.append(Step(run_id=run.id, step_id=op.step_id, kind=StepKind.WAIT_FOR_EVENT,
                                  position=op.position, status=StepStatus.WAITING, target=op.event,
                                  wait_event=op.event, wait_match=op.match, wait_value=op.value,
                                  deadline=op.deadline, started_at=now, attempts=1))
        elif isinstance(op, EventsSent):
            dispatch_events_txn(op.events, sent_by_run_id=run.id)
            new_steps.append(Step(run_id=run.id, step_id=op.step_id, kind=StepKind.SEND_EVENT,
                                  position=op.position, status=StepStatus.COMPLETED,
                                  output=[e["id"] for e in op.events], input=op.events, started_at=op.started_at,
                                  ended_at=now, attempts=1))
    if children:
        Run.objects.bulk_create(children)
        notify.runs_ready()
    if new_steps:
        Step.objects.bulk_create(new_steps)
    return replay_now


def _record_attempt_txn(run: Run, op: StepCompleted | StepFailed, new_steps: list[Step]) -> None:
    completed = isinstance(op, StepCompleted)
    status = StepStatus.COMPLETED if completed else (
        StepStatus.RETRYING if op.retry_at else StepStatus.FAILED)  # type: ignore[union-attr]
    entry = {"attempt": op.attempt, "status": status, "started_at": op.started_at.isoformat(),
             "ended_at": op.ended_at.isoformat(), "error": None if completed else op.error}  # type: ignore[union-attr]
    output = op.output if completed else None  # type: ignore[union-attr]
    error = None if completed else op.error  # type: ignore[union-attr]
    existing = Step.objects.filter(run_id=run.id, step_id=op.step_id).first() if op.attempt > 1 else None
    if existing is None:
        new_steps.append(Step(run_id=run.id, step_id=op.step_id, kind=op.kind, position=op.position,
                              status=status, output=output, error=error, attempts=op.attempt,
                              history=[entry], started_at=op.started_at, ended_at=op.ended_at))
        return
    existing.status, existing.output, existing.error = status, output, error
    existing.attempts, existing.ended_at = op.attempt, op.ended_at
    existing.history = [*existing.history, entry]
    existing.save(update_fields=["status", "output", "error", "attempts", "ended_at", "history"])


def _registered(keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    if not keys:
        return set()
    apps = {app for app, _ in keys}
    rows = Function.objects.filter(app_id__in=apps, function_id__in={f for _, f in keys})
    return {(app, fn) for app, fn in rows.values_list("app_id", "function_id")} & keys


def _invoke_refusal(run: Run, op: InvokePlanned, known: set[tuple[str, str]]) -> dict[str, Any] | None:
    if (op.app_id, op.function_id) not in known:
        return {"type": "FunctionNotFoundError", "name": "FunctionNotFoundError", "stack": None, "run_id": None,
                "message": f"function {op.function_id!r} of app {op.app_id!r} is not registered "
                           f"(step {op.step_id!r})"}
    limit = settings.RUNS_MAX_INVOKE_DEPTH
    if run.depth + 1 > limit:
        return {"type": "InvokeDepthError", "name": "InvokeDepthError", "stack": None, "run_id": None,
                "message": f"step {op.step_id!r} would invoke {op.app_id}/{op.function_id} at depth "
                           f"{run.depth + 1}; the limit is {limit} (RUNS_MAX_INVOKE_DEPTH)"}
    return None


def _child_run(run: Run, op: InvokePlanned, now: datetime) -> Run:
    event = {"id": new_id(), "name": FUNCTION_INVOKED, "data": op.data, "user": op.user,
             "ts": int(time.time() * 1000)}
    parent = ParentLink(run_id=run.id, step_id=op.step_id, root_run_id=run.root_run_id, depth=run.depth)
    return new_run(app_id=op.app_id, function_id=op.function_id, event=event, now=now, parent=parent)
