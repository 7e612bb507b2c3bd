"""Loading a claimed run's steps and committing what one pass did, each in one transaction.

Every commit first checks the lease: a worker that lost its run to another worker writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from runs import conf
from runs.domain import ClaimedRun
from runs.errors import ErrorRecord
from runs.events import FUNCTION_INVOKED
from runs.exceptions import (
    FunctionNotFoundError,
    InvokeDepthError,
    InvokeTimeoutError,
    LeaseLost,
    RateLimitedError,
)
from runs.ids import new_id
from runs.models import Event, Function, Run, Step
from runs.ops import (
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
    Suspended,
    WaitPlanned,
)
from runs.remote import RUNTIME_INNGEST_JS, RUNTIME_INNGEST_PY, RemoteFunction
from runs.status import RunStatus, StepKind, StepStatus
from runs.store import changes, flow, handovers, hops, inserts, memos, notify
from runs.store.backends import backend
from runs.store.claims import claimed_from_row, hand_off, lease_duration, new_token, worker_of
from runs.store.ending import after_end_txn, ended_fields, finished_event, mark_ended_txn, parent_step_fields
from runs.store.intake import announce_txn, dispatch_events_txn
from runs.store.rows import COALESCE_WAKEUPS, ParentLink, new_run, publish_new_runs, run_delta, wake_resumed
from runs.store.transient import retrying

_STEP_FIELDS = ("step_id", "kind", "status", "output", "error", "attempts", "target", "position", "deadline",
                "child_run_id")


def load_memo(claim: ClaimedRun) -> dict[str, StepMemo]:
    """The run's recorded steps; waits whose deadline passed are settled first (S5, S11)."""
    if not claim.has_steps:
        return {}
    known = memos.take(claim.id, version=claim.version, wakeups=claim.wakeups, now=timezone.now())
    if known is not None:
        return known
    return retrying(lambda: _load_memo_once(claim), f"loading the steps of run {claim.id}")


def _load_memo_once(claim: ClaimedRun) -> dict[str, StepMemo]:
    rows = list(Step.objects.filter(run_id=claim.id).values(*_STEP_FIELDS))
    now = timezone.now()
    if any(r["status"] == StepStatus.WAITING and r["deadline"] and r["deadline"] <= now for r in rows):
        # No lease check needed: a deadline that passed has passed for whoever holds the run. Each step row is
        # settled by a conditional update (step row only), so an event or a child's end resolving the same step
        # at the same moment wins or loses cleanly, never deadlocks.
        _expire_waits(claim.id, now)
        rows = list(Step.objects.filter(run_id=claim.id).values(*_STEP_FIELDS))
    return {r["step_id"]: StepMemo(step_id=r["step_id"], kind=r["kind"], status=r["status"], output=r["output"],
                                   error=r["error"], attempts=r["attempts"], target=r["target"],
                                   position=r["position"], deadline=r["deadline"]) for r in rows}


def _expire_waits(run_id: str, now: datetime) -> None:
    expired = Step.objects.filter(run_id=run_id, status=StepStatus.WAITING, deadline__lte=now)
    for step in expired.only("id", "kind", "target", "child_run_id"):
        if step.kind == StepKind.INVOKE:
            error = ErrorRecord.raised_as(
                InvokeTimeoutError, f"invoked function {step.target} (run {step.child_run_id}) did not finish "
                                    f"before the step's timeout; the invoked run keeps running",
                run_id=step.child_run_id)
            fields: dict[str, Any] = {"status": StepStatus.FAILED, "error": error.to_json()}
        else:
            fields = {"status": StepStatus.COMPLETED, "output": None}  # a sleep ends; a wait returns None
        Step.objects.filter(id=step.id, status=StepStatus.WAITING).update(ended_at=now, wait_event=None, **fields)


def commit_checkpoint(claim: ClaimedRun, ops: Sequence[StepOp]) -> None:
    """Make steps durable mid-pass, before the function's next side effect starts.

    Retried through transient errors. A checkpoint keeps the lease, so a retry after a commit whose answer was
    lost (the connection broke during COMMIT) would find its steps already there: it writes only the rest."""
    tries = 0

    def once() -> None:
        nonlocal tries
        tries += 1
        _commit_checkpoint_once(claim, ops if tries == 1 else _not_yet_recorded(claim, ops))

    retrying(once, f"checkpoint of run {claim.id} ({claim.app_id}/{claim.function_id})", refuse=True)


def _not_yet_recorded(claim: ClaimedRun, ops: Sequence[StepOp]) -> list[StepOp]:
    recorded = dict(Step.objects.filter(run_id=claim.id, step_id__in=[op.step_id for op in ops])
                    .values_list("step_id", "attempts"))
    return [op for op in ops if op.step_id not in recorded
            or getattr(op, "attempt", 1) > recorded[op.step_id]]


def _commit_checkpoint_once(claim: ClaimedRun, ops: Sequence[StepOp]) -> None:
    ops = _resolve_composites(ops)
    refusals = _invoke_refusals(claim, ops)
    fields: dict[str, Any] = {"attempts": _attempts(claim, ops)}
    if refusals:
        # An invoke failed at once: count it as a wake-up, so the pass's end schedules a replay now.
        fields["wakeups"] = F("wakeups") + 1
    with transaction.atomic():
        # Updating the row under the lease both checks the lease and locks the run for this transaction.
        held = Run.objects.filter(id=claim.id, lease_owner=claim.lease_owner).update(**fields) == 1
        if not held:
            _commit_without_lease_txn(claim, ops)
        else:
            _, replay_now = _apply_ops_txn(claim, ops, refusals)
            if replay_now:
                Run.objects.filter(id=claim.id).update(wakeups=F("wakeups") + 1)
    if not held:
        # Cancelled mid-pass (what it finished is kept, above): stop the pass, so no further step starts.
        raise LeaseLost(f"run {claim.id} was cancelled while it executed; its pass stops here")


def finish_pass(claim: ClaimedRun, ops: Sequence[StepOp], outcome: Outcome,
                memo: dict[str, StepMemo], *, checkpointed: bool = False) -> ClaimedRun | None:
    """Commit a pass's remaining steps and its outcome; release the lease.

    Returns a run this worker should execute next, already leased to it: the first child the pass invoked,
    or the parent this run's end resumed. Handing it over in-process saves a claim and a wake-up.
    Retried through transient errors: the lease check makes a second commit of the same pass write nothing.
    """
    if handovers.is_open():
        # This pass was handed over by a hop whose transaction is still open: it commits both (handovers.py).
        try:
            result = _finish_pass_once(claim, ops, outcome, memo, checkpointed=checkpointed, share=False)
        except Exception:
            handovers.abandon()  # the hop alone again (LeaseLost if it no longer hands this run over)
        else:
            if handovers.settle():
                return result
        # The shared commit failed: the hop was written alone; this pass is committed on its own below.
    return retrying(lambda: _finish_pass_once(claim, ops, outcome, memo, checkpointed=checkpointed, share=True),
                    f"commit of run {claim.id} ({claim.app_id}/{claim.function_id})", refuse=True)


def settle_handover() -> None:
    """Commit a hop's transaction this thread's pass shares, before the pass does anything outside the
    database (handovers.py)."""
    handovers.settle()


def abandon_handover() -> None:
    """The handed pass failed: roll the shared transaction back and write the hop alone (handovers.py)."""
    with suppress(LeaseLost):  # (the hop no longer applies: nothing of it, nor of the failed pass, is written)
        handovers.abandon()


def handover_open() -> bool:
    return handovers.is_open()


def _finish_pass_once(claim: ClaimedRun, ops: Sequence[StepOp], outcome: Outcome,
                      memo: dict[str, StepMemo], *, checkpointed: bool, share: bool) -> ClaimedRun | None:
    worker = worker_of(claim.lease_owner)
    ops = _resolve_composites(ops)
    refusals = _invoke_refusals(claim, ops)
    attempts = _attempts(claim, ops)
    if checkpointed:
        # This pass's checkpoints stored their steps' attempts on the row (a step retried, then another step or
        # SDK call): the claim's count predates them, and writing it back would lose them (S15).
        attempts = max(attempts, Run.objects.filter(id=claim.id).values_list("attempts", flat=True).first() or 0)
    status, output, error, cause, failed_step = "", None, None, None, None
    if isinstance(outcome, RunFinished):
        status, output = RunStatus.COMPLETED, outcome.output
    elif isinstance(outcome, RunFailed) and outcome.retry_at is None:
        status, error, cause = RunStatus.FAILED, outcome.error, outcome.cause_run_id
        failed_step = outcome.failed_step_id
    if backend().single_statement_hops and not refusals and claim.concurrency_key is None and not checkpointed:
        # The plain hops of an invoke, one statement each (runs/store/hops.py); None: not one of them.
        hop = (_end_and_resume(claim, ops, status, output, error, attempts, cause, failed_step, worker, share)
               if status else _suspend_on_invoke(claim, ops, outcome, memo, attempts, worker, share))
        if hop is not None:
            return hop.next_run
    with transaction.atomic():
        now = timezone.now()
        # The run's own row first: the update succeeds only under this worker's lease, and locks the row.
        if status:
            held = mark_ended_txn(claim, status, now=now, output=output, error=error, attempts=attempts,
                                  cause_run_id=cause, lease_owner=claim.lease_owner, failed_step_id=failed_step)
        else:
            held = _suspend_txn(claim, ops, outcome, memo, now, attempts, replay_now=bool(refusals),
                                checkpointed=checkpointed)
        if not held:
            _commit_without_lease_txn(claim, ops)
            return None
        next_run, replay_now = _apply_ops_txn(claim, ops, refusals, hand_off_to=worker)
        if replay_now and not status:
            # An invoked child was rate limited (S12): its invoke step failed at once, so replay now.
            Run.objects.filter(id=claim.id).update(ready_at=now)
            notify.runs_ready()
        if status:
            parent_due, finished = after_end_txn(claim, status, now=now, output=output, error=error, hand_off=True)
            if finished is not None:
                announce_txn([finished])
            if parent_due:
                resumed = hand_off(parent_due, worker) if next_run is None else None
                if resumed is None:
                    wake_resumed(parent_due, now)
                next_run = next_run or resumed
        # Last: the key's advisory lock is taken after every row lock of this transaction, as claims do,
        # so the two never wait on each other in opposite orders.
        flow.release_slot_txn(claim.concurrency_key, claim.concurrency_limit, now)
        return next_run


MAX_STEPS_IN_ONE_STATEMENT = 8  # a run's last pass recording more steps than this takes the ORM path


@dataclass(frozen=True, slots=True)
class _Hop:
    next_run: ClaimedRun | None


def _suspend_on_invoke(claim: ClaimedRun, ops: Sequence[StepOp], outcome: Outcome, memo: dict[str, StepMemo],
                       attempts: int, worker: str, share: bool) -> _Hop | None:
    """A pass that planned one invoke and nothing else suspends, and its child starts here next."""
    if not (isinstance(outcome, Suspended) and len(ops) == 1 and isinstance(ops[0], InvokePlanned)):
        return None
    op = ops[0]
    pending = (StepStatus.WAITING, StepStatus.RETRYING)
    if op.attempt != 1 or not _plain_function(op.app_id, op.function_id) or any(
            m.status in pending for m in memo.values()):
        return None
    now = timezone.now()
    fields, ready_at = _suspension(claim, ops, outcome, memo, now, attempts, replay_now=False, checkpointed=False)
    step, child = _invoke_step(claim, op, now), _child_run(claim, op, now)
    step.status, step.child_run_id, step.error = StepStatus.WAITING, child.id, None
    if child.status != RunStatus.QUEUED or child.ready_at is None or child.ready_at > now:
        return None
    handed = _lease_child(child, worker, now)  # (the statement itself refuses a paused function's child)

    def write() -> _Hop | None:
        if not hops.suspend_and_start_child(claim, fields, ready_at, now, child, step):
            return None  # the lease is gone (cancelled, taken over) or the child's function paused: general path
        changes.run_changed(run_delta(claim, fields["status"], claim.version + 1))
        publish_new_runs([child])
        memos.suspended(claim.id, version=claim.version + 1, wakeups=claim.wakeups, steps=memo,
                        waiting_step=StepMemo(step_id=op.step_id, kind=StepKind.INVOKE, status=StepStatus.WAITING,
                                              attempts=op.attempt, target=step.target, position=op.position,
                                              deadline=op.deadline))
        return _Hop(handed)

    return handovers.run(write, share=share)


def _end_and_resume(claim: ClaimedRun, ops: Sequence[StepOp], status: str, output: Any,
                    error: dict[str, Any] | None, attempts: int, cause: str | None, failed_step: str | None,
                    worker: str, share: bool) -> _Hop | None:
    """A run that ends with only first attempts of steps to record (and no listener of its end) ends in one
    statement; an invoked one resolves its parent there, which resumes here next if it can."""
    if status != RunStatus.COMPLETED and not claim.parent_run_id:
        return None  # a failed root joins its incident (runs/store/ending.py): the ORM path
    if len(ops) > MAX_STEPS_IN_ONE_STATEMENT or any(
            not isinstance(op, StepCompleted | StepFailed) or op.attempt != 1 or getattr(op, "sent_event_ids", ())
            for op in ops) or (claim.parent_run_id and not claim.parent_step_id) or finished_event(
            claim, status, output, error) is not None:
        return None
    new_steps: list[Step] = []
    for op in ops:
        _record_attempt_txn(claim, op, new_steps)  # type: ignore[arg-type]  # (first attempts: no query)
    now = timezone.now()
    ended = ended_fields(claim, status, now=now, output=output, error=error, attempts=attempts,
                         cause_run_id=cause, failed_step_id=failed_step)
    step_fields = {"ended_at": now, **parent_step_fields(claim, status, output, error)} if claim.parent_run_id \
        else None
    token = new_token(worker)

    def write() -> _Hop | None:
        done = hops.end_and_resume(claim, ended, new_steps, step_fields, now, now + COALESCE_WAKEUPS, token,
                                   now + lease_duration())
        if not done.ended:
            return None  # the lease is gone: the general path finds out why (cancelled, or taken over)
        changes.run_changed(run_delta(claim, status, claim.version + 1))
        if done.parent_resolved and step_fields is not None:
            memos.resolved(str(claim.parent_run_id), str(claim.parent_step_id), status=step_fields["status"],
                           output=step_fields.get("output"), error=step_fields.get("error"))
        if done.parent is None:
            if done.parent_made_due:
                notify.runs_ready()
            return _Hop(None)
        parent = claimed_from_row(done.parent, token)
        changes.run_changed(run_delta(parent, RunStatus.RUNNING, parent.version))
        return _Hop(parent)

    # Only a child whose parent this process suspended on this one step is likely to take the parent and hand
    # it over: for the others (a root, a fan-out's child) an open transaction would only add BEGIN and COMMIT.
    share = share and claim.parent_run_id is not None and memos.waits_only_on(claim.parent_run_id,
                                                                              str(claim.parent_step_id))
    try:
        return handovers.run(write, share=share)
    except hops.ShareLost:
        if handovers.is_open():
            raise  # a handed pass's statement: the shared transaction is aborted (finish_pass starts over)
        return write()  # the shortcut failed in the hop's own transaction, rolled back: alone this time


def _plain_function(app_id: str, function_id: str) -> bool:
    """A registered function without flow control: its new runs need no admission (flow.admit_txn)."""
    config = _config_of((app_id, function_id))
    return config is not None and not any(config.get(rule) for rule in ("concurrency", "rate_limit", "debounce"))


def _commit_without_lease_txn(claim: ClaimedRun, ops: Sequence[StepOp]) -> None:
    """The lease is gone. Cancelled mid-pass: a step that was executing keeps its result and nothing new
    starts. Taken over by another worker: this worker's results are discarded."""
    status = Run.objects.filter(id=claim.id).values_list("status", flat=True).first()
    if status != RunStatus.CANCELLED:
        raise LeaseLost(f"run {claim.id} is no longer held by {claim.lease_owner}")
    _apply_ops_txn(claim, [op for op in ops if isinstance(op, StepCompleted | StepFailed)], {})
    # (its concurrency slot was released by the cancel)


def _suspend_txn(claim: ClaimedRun, ops: Sequence[StepOp], outcome: Outcome, memo: dict[str, StepMemo],
                 now: datetime, attempts: int, replay_now: bool, checkpointed: bool = False) -> bool:
    """The run waits: for a retry, a timer, a child or an event. Schedule its next replay."""
    fields, ready_at = _suspension(claim, ops, outcome, memo, now, attempts, replay_now, checkpointed)
    held = Run.objects.filter(id=claim.id, lease_owner=claim.lease_owner).update(
        # A step of this run resolved while the pass ran (a child ended, an event came): look again at once.
        ready_at=Case(When(~Q(wakeups=claim.wakeups), then=Value(now)), default=Value(ready_at)), **fields) == 1
    if held:
        changes.run_changed(run_delta(claim, fields["status"], claim.version + 1))
    if held and ready_at is not None and ready_at <= now:
        notify.runs_ready()
    return held


def _suspension(claim: ClaimedRun, ops: Sequence[StepOp], outcome: Outcome, memo: dict[str, StepMemo],
                now: datetime, attempts: int, replay_now: bool,
                checkpointed: bool) -> tuple[dict[str, Any], datetime | None]:
    """The fields of a suspended run's row, and when it is due next (unless woken meanwhile: then at once)."""
    body_failures = claim.body_failures
    due: list[datetime] = []
    fields: dict[str, Any] = {}
    if isinstance(outcome, RunFailed):  # the body failed, another attempt is due
        body_failures += 1
        attempts = max(attempts, body_failures + 1)
        due.append(outcome.retry_at or now)
        fields["error"] = outcome.error
    resolved_here = {op.step_id for op in ops if isinstance(op, StepCompleted | StepFailed)}
    pending = (StepStatus.WAITING, StepStatus.RETRYING)
    recorded: list[tuple[str, datetime | None]]
    if checkpointed:
        # Steps were saved mid-pass (planned waits, retries due later): the database has them all.
        recorded = list(Step.objects.filter(run_id=claim.id, status__in=pending, deadline__isnull=False)
                        .exclude(step_id__in=resolved_here).values_list("status", "deadline"))
    else:
        recorded = [(m.status, m.deadline) for m in memo.values()
                    if m.status in pending and m.step_id not in resolved_here]
    waiting = [deadline for status, deadline in recorded if deadline and status == StepStatus.WAITING]
    due += [deadline for status, deadline in recorded if deadline and status == StepStatus.RETRYING]
    waiting += [op.deadline for op in ops if isinstance(op, InvokePlanned | WaitPlanned)]
    waiting += [op.until for op in ops if isinstance(op, SleepPlanned)]
    due += [op.retry_at for op in ops if isinstance(op, StepFailed) and op.retry_at]
    if replay_now:
        due.append(now)
    retrying = bool(due) and not waiting
    ready_at = min(due + waiting) if (due or waiting) else None
    fields.update(status=RunStatus.RUNNING if retrying else RunStatus.WAITING, lease_owner=None, attempts=attempts,
                  body_failures=body_failures, version=claim.version + 1)
    return fields, ready_at


def _attempts(claim: ClaimedRun, ops: Sequence[StepOp]) -> int:
    step_attempts = [op.attempt for op in ops if isinstance(op, StepCompleted | StepFailed)]
    return max([claim.attempts, claim.body_failures + 1, *step_attempts])


def _apply_ops_txn(claim: ClaimedRun, ops: Sequence[StepOp], refusals: dict[str, dict[str, Any]],
                   hand_off_to: str | None = None) -> tuple[ClaimedRun | None, bool]:
    """Write the step ops. Returns the first child run created, leased to `hand_off_to` when given, and
    whether an invoke failed at once because its child was rate limited."""
    now = timezone.now()
    new_steps: list[Step] = []
    reopened: list[Step] = []  # invoke steps an operator's retry reopened (O4): they invoke again
    children: list[Run] = []
    for op in ops:
        if isinstance(op, StepCompleted | StepFailed):
            _record_attempt_txn(claim, op, new_steps)
        elif isinstance(op, InvokePlanned):
            step = _invoke_step(claim, op, now)
            error = refusals.get(op.step_id)
            if error:
                step.status, step.error, step.ended_at = StepStatus.FAILED, error, now
            else:
                child = _child_run(claim, op, now)
                children.append(child)
                step.status, step.child_run_id, step.error = StepStatus.WAITING, child.id, None
            (new_steps if step.pk is None else reopened).append(step)
        elif isinstance(op, SleepPlanned):
            new_steps.append(Step(run_id=claim.id, step_id=op.step_id, kind=StepKind.SLEEP, position=op.position,
                                  status=StepStatus.WAITING, deadline=op.until, started_at=now, attempts=1,
                                  display_name=op.display_name))
        elif isinstance(op, WaitPlanned):
            new_steps.append(Step(run_id=claim.id, step_id=op.step_id, kind=StepKind.WAIT_FOR_EVENT,
                                  position=op.position, status=StepStatus.WAITING, target=op.event,
                                  wait_event=op.event, wait_match=op.match, wait_value=op.value,
                                  wait_expression=op.expression, display_name=op.display_name,
                                  deadline=op.deadline, started_at=now, attempts=1))
        elif isinstance(op, EventsSent):
            dispatch_events_txn(op.events, sent_by_run_id=claim.id)
            new_steps.append(Step(run_id=claim.id, step_id=op.step_id, kind=StepKind.SEND_EVENT,
                                  position=op.position, status=StepStatus.COMPLETED,
                                  output=[e["id"] for e in op.events], input=op.events, started_at=op.started_at,
                                  ended_at=now, attempts=1))
    rate_limited = False
    if children:
        superseded = flow.admit_txn(children, {key: _config_of(key) or {} for key in
                                               {(c.app_id, c.function_id) for c in children}}, now)
        publish_new_runs(superseded)
        steps_by_child = {step.child_run_id: step for step in [*new_steps, *reopened] if step.child_run_id}
        for child in children:
            if child.status == RunStatus.SKIPPED and not child.superseded_by_run_id:
                _fail_rate_limited(steps_by_child[child.id], child, now)
                rate_limited = True
    handed = _lease_first_child(children, hand_off_to, now) if hand_off_to else None
    if children:
        inserts.insert_rows(children)
        publish_new_runs(children)
        if any(c.status == RunStatus.QUEUED for c in children):
            notify.runs_ready()
    if new_steps:
        inserts.insert_rows(new_steps)
    for step in reopened:
        step.save()
    return handed, rate_limited


def _invoke_step(claim: ClaimedRun, op: InvokePlanned, now: datetime) -> Step:
    """The step row of a planned invoke: new, or (a retried invoke) the existing row with its history kept."""
    fields = {"kind": StepKind.INVOKE, "position": op.position, "target": f"{op.app_id}/{op.function_id}",
              "input": {"data": op.data, "user": op.user}, "deadline": op.deadline, "attempts": op.attempt,
              "display_name": op.display_name}
    now = op.planned_at or now  # the timeout runs from the invoke, not from this commit
    if op.attempt > 1:
        step = Step.objects.filter(run_id=claim.id, step_id=op.step_id).first()
        if step is not None:
            # A step an operator reopened is "retrying" now: its attempt ended failed (an error) or completed.
            ended = step.status if step.status != StepStatus.RETRYING else (
                StepStatus.FAILED if step.error else StepStatus.COMPLETED)
            step.history = [*step.history, {"attempt": op.attempt - 1, "status": ended,
                                            "child_run_id": step.child_run_id, "error": step.error,
                                            "started_at": step.started_at.isoformat(),
                                            "ended_at": step.ended_at.isoformat() if step.ended_at else None}]
            for name, value in fields.items():
                setattr(step, name, value)
            step.started_at, step.ended_at, step.output = now, None, None
            return step
    return Step(run_id=claim.id, step_id=op.step_id, started_at=now, **fields)


def _fail_rate_limited(step: Step, child: Run, now: datetime) -> None:
    """S12: an invoke of a rate-limited function fails at once (the skipped child is kept, for the record)."""
    step.status, step.ended_at = StepStatus.FAILED, now
    step.error = ErrorRecord.raised_as(
        RateLimitedError, f"invoked function {child.app_id}/{child.function_id} was rate limited "
                          f"(run {child.id} skipped): {child.status_reason}", run_id=child.id).to_json()


def _record_attempt_txn(claim: ClaimedRun, op: StepCompleted | StepFailed, new_steps: list[Step]) -> None:
    completed = isinstance(op, StepCompleted)
    status = StepStatus.COMPLETED if completed else (
        StepStatus.RETRYING if op.retry_at else StepStatus.FAILED)  # type: ignore[union-attr]
    entry = {"attempt": op.attempt, "status": status, "started_at": op.started_at.isoformat(),
             "ended_at": op.ended_at.isoformat(), "error": None if completed else op.error}  # type: ignore[union-attr]
    output = op.output if completed else None  # type: ignore[union-attr]
    error = None if completed else op.error  # type: ignore[union-attr]
    # A step to retry keeps its next attempt's time as its deadline: it is not executed before (S15).
    deadline = None if completed else op.retry_at  # type: ignore[union-attr]
    kind = op.kind
    if completed and op.sent_event_ids and _attribute_sent_events(claim, op.sent_event_ids):  # type: ignore[union-attr]
        kind = StepKind.SEND_EVENT
    existing = Step.objects.filter(run_id=claim.id, step_id=op.step_id).first() if op.attempt > 1 else None
    if existing is None:
        new_steps.append(Step(run_id=claim.id, step_id=op.step_id, kind=kind, position=op.position,
                              status=status, output=output, error=error, attempts=op.attempt, deadline=deadline,
                              history=[entry], started_at=op.started_at, ended_at=op.ended_at,
                              display_name=op.display_name, input=op.input))
        return
    existing.status, existing.output, existing.error = status, output, error
    existing.attempts, existing.ended_at, existing.deadline = op.attempt, op.ended_at, deadline
    existing.history = [*existing.history, entry]
    existing.save(update_fields=["status", "output", "error", "attempts", "ended_at", "history", "deadline"])


def _attribute_sent_events(claim: ClaimedRun, event_ids: Sequence[str]) -> bool:
    """Events an SDK app sent from a step of this run (through POST /e/<key>, so nobody sent them yet as far as
    the store knew): they, and the runs they started, are this run's. Whether any was."""
    attributed = Event.objects.filter(id__in=list(event_ids), sent_by_run_id="").update(sent_by_run_id=claim.id)
    if attributed:
        Run.objects.filter(event_id__in=list(event_ids), triggered_by_run_id__isnull=True,
                           parent_run_id__isnull=True).exclude(id=claim.id).update(triggered_by_run_id=claim.id)
    return attributed > 0


# Configurations of functions seen registered: an invoke target checked once needs no query again. A native
# function changes only when its worker restarts with new code; an SDK app's function changes when the app
# syncs again, through another process, so it is looked up again after a few seconds (a vanished one is then
# refused, a changed flow control applies). A missing function is looked up every time.
_function_configs: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
# SDK app functions, looked up again after a few seconds: a re-synced app may have moved or dropped them.
_REMOTE_TTL_SECONDS = 5.0


def _registered(keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    now = time.monotonic()
    unknown = {key for key in keys if _function_configs.get(key, (0.0, {}))[0] <= now}
    for key in unknown:
        _function_configs.pop(key, None)
    if unknown:
        rows = Function.objects.filter(app_id__in={app for app, _ in unknown},
                                       function_id__in={f for _, f in unknown})
        for app_id, function_id, config in rows.values_list("app_id", "function_id", "config"):
            if (app_id, function_id) in unknown:
                remote = (config or {}).get("runtime") in (RUNTIME_INNGEST_PY, RUNTIME_INNGEST_JS)
                expires = now + _REMOTE_TTL_SECONDS if remote else float("inf")
                _function_configs[(app_id, function_id)] = (expires, config or {})
    return keys & _function_configs.keys()


def _config_of(key: tuple[str, str]) -> dict[str, Any] | None:
    """The configuration `_registered` last read for this function, if it did."""
    entry = _function_configs.get(key)
    return None if entry is None else entry[1]


def forget_function_configs() -> None:
    _function_configs.clear()
    _composites.clear()
    _remote.clear()


_remote: dict[tuple[str, str], tuple[float, RemoteFunction | None]] = {}


def remote_function(app_id: str, function_id: str) -> RemoteFunction | None:
    """The SDK app function registered under these ids (its config has `runtime` and `url`), or None."""
    key = (app_id, function_id)
    cached = _remote.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    config = retrying(lambda: Function.objects.filter(app_id=app_id, function_id=function_id)
                      .values_list("config", flat=True).first(), f"looking up function {app_id}/{function_id}")
    found = None
    if config and config.get("runtime") in (RUNTIME_INNGEST_PY, RUNTIME_INNGEST_JS) and config.get("url"):
        found = RemoteFunction(app_id=app_id, function_id=function_id, url=config["url"], runtime=config["runtime"],
                               retries=int(config.get("retries", 4)), name=config.get("name") or "")
    _remote[key] = (time.monotonic() + _REMOTE_TTL_SECONDS, found)
    return found


# Inngest's composite ids (`<app id>-<function id>`) already resolved to their app and function.
_composites: dict[str, tuple[str, str]] = {}


def resolve_composite(composite: str) -> tuple[str, str] | None:
    """The (app id, function id) registered under Inngest's composite id, native or SDK alike; None if no
    registered function has it. App ids may contain '-': every split is tried, the longest app id wins."""
    if composite in _composites:
        return _composites[composite]
    splits = [(composite[:i], composite[i + 1:]) for i, ch in enumerate(composite) if ch == "-"]
    if not splits:
        return None
    query = Q()
    for app_id, function_id in splits:
        query |= Q(app_id=app_id, function_id=function_id)
    found = set(Function.objects.filter(query).values_list("app_id", "function_id"))
    for app_id, function_id in sorted(splits, key=lambda split: -len(split[0])):
        if (app_id, function_id) in found:
            _composites[composite] = (app_id, function_id)
            return app_id, function_id
    return None


def _resolve_composites(ops: Sequence[StepOp]) -> Sequence[StepOp]:
    """Invokes an SDK app planned by composite id, named by their app and function (unknown ones stay
    unresolved and fail as not found)."""
    if not any(isinstance(op, InvokePlanned) and not op.app_id for op in ops):
        return ops
    resolved: list[StepOp] = []
    for op in ops:
        if isinstance(op, InvokePlanned) and not op.app_id:
            target = resolve_composite(op.function_id)
            if target is not None:
                op = replace(op, app_id=target[0], function_id=target[1])
        resolved.append(op)
    return resolved


def _invoke_refusals(claim: ClaimedRun, ops: Sequence[StepOp]) -> dict[str, dict[str, Any]]:
    """Invokes that fail at once (S9, S20): the target is not registered, or the chain is too deep."""
    invokes = [op for op in ops if isinstance(op, InvokePlanned)]
    if not invokes:
        return {}
    known = _registered({(op.app_id, op.function_id) for op in invokes})
    refusals = {}
    for op in invokes:
        error = _invoke_refusal(claim, op, known)
        if error:
            refusals[op.step_id] = error
    return refusals


def _invoke_refusal(claim: ClaimedRun, op: InvokePlanned, known: set[tuple[str, str]]) -> dict[str, Any] | None:
    if not op.app_id:
        # Inngest's words, which SDK code may match on.
        return ErrorRecord.raised_as(FunctionNotFoundError, f"could not find function with ID: {op.function_id}",
                                     name="Error").to_json()
    if (op.app_id, op.function_id) not in known:
        return ErrorRecord.raised_as(FunctionNotFoundError, f"function {op.function_id!r} of app {op.app_id!r} is "
                                                            f"not registered (step {op.step_id!r})").to_json()
    limit = conf.get("RUNS_MAX_INVOKE_DEPTH")
    if claim.depth + 1 > limit:
        return ErrorRecord.raised_as(InvokeDepthError, f"step {op.step_id!r} would invoke {op.app_id}/{op.function_id} "
                                                       f"at depth {claim.depth + 1}; the limit is {limit} "
                                                       f"(RUNS_MAX_INVOKE_DEPTH)").to_json()
    return None


def _child_run(claim: ClaimedRun, op: InvokePlanned, now: datetime) -> Run:
    event = {"id": new_id(), "name": FUNCTION_INVOKED, "data": op.data, "user": op.user,
             "ts": int(time.time() * 1000)}
    parent = ParentLink(run_id=claim.id, step_id=op.step_id, root_run_id=claim.root_run_id, depth=claim.depth,
                        step_attempt=op.attempt - 1)
    return new_run(app_id=op.app_id, function_id=op.function_id, event=event, now=now, parent=parent)


def _lease_first_child(children: list[Run], worker: str, now: datetime) -> ClaimedRun | None:
    """Create the first child already leased to this worker, which executes it next (no claim, no wake-up).

    Only a child that is due now, has no concurrency limit and whose function is not paused: the others go
    through claims (S17-S19, pausing)."""
    eligible = [c for c in children if c.status == RunStatus.QUEUED and not c.concurrency_key
                and c.ready_at is not None and c.ready_at <= now]
    if not eligible:
        return None
    child = eligible[0]
    if Function.objects.filter(app_id=child.app_id, function_id=child.function_id, paused=True).exists():
        return None  # its function is paused: it queues, and a claim parks it until the resume
    return _lease_child(child, worker, now)


def _lease_child(child: Run, worker: str, now: datetime) -> ClaimedRun:
    """Make the unsaved child leased to this worker as it is inserted."""
    token = new_token(worker)
    child.status, child.lease_owner, child.started_at = RunStatus.RUNNING, token, now
    child.ready_at, child.version = now + lease_duration(), 2
    return ClaimedRun(id=child.id, app_id=child.app_id, function_id=child.function_id,
                      event={"id": child.event_id, "name": child.event_name, "data": child.event_data,
                             "user": child.event_user, "ts": child.event_ts},
                      body_failures=0, depth=child.depth, root_run_id=child.root_run_id, attempts=1, wakeups=0,
                      lease_owner=token, has_steps=False, version=2, parent_run_id=child.parent_run_id,
                      parent_step_id=child.parent_step_id)
