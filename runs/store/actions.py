"""Operator actions on runs (O3-O5): cancel, cascading cancel, retry from failure, rerun from start, retry of a
failed chain's root cause, and bulk versions. Each is one transaction (bulk: one per batch)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from runs import causes, incidents
from runs.events import normalise_events
from runs.exceptions import (
    ActionRefused,
    IncidentNotFound,
    InvalidEvent,
    InvalidFilter,
    InvalidRetry,
    RunNotFound,
)
from runs.ids import new_id
from runs.models import Function, Incident, Run, Step
from runs.remote import RUNTIME_INNGEST_JS, RUNTIME_INNGEST_PY
from runs.status import (
    ACTIVE_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    ActionKind,
    RetryMode,
    RunStatus,
    StepKind,
    StepStatus,
)
from runs.store import attempts, changes, flow, notify, tree_cancel
from runs.store.cancelling import cancel_runs_txn
from runs.store.intake import announce_txn
from runs.store.reads import filtered_runs
from runs.store.rows import new_run, publish_new_runs, run_delta

__all__ = ["RETRY_MODES", "RetryPlan", "apply_each", "apply_retry", "bulk_apply", "cancel_preview", "cancel_run",
           "cancel_runs_txn", "cancel_targets", "edited_event", "incident_targets", "matching_runs", "preview_ids",
           "retry_plan", "retry_preview", "retry_preview_plan", "retry_run", "root_cause_of", "selected_ids"]

RETRY_MODES = tuple(RetryMode.values)
_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")  # what runs.ids makes (and test fixtures use): no more than a column holds


# --- cancel -------------------------------------------------------------------------------------------------


def cancel_run(run_id: str, *, cascade: bool = False, reason: str = "cancelled") -> list[str]:
    """Cancel a queued, running or waiting run (and with `cascade`, its active descendants).

    Returns the ids cancelled. A run being executed stops at its next step boundary: its worker's commit
    finds its lease gone, keeps the step that was executing and starts nothing new.
    """
    # A big subtree is cancelled top-down in batches (runs/store/tree_cancel.py): this run in the first
    # transaction, its descendants after it commits. A read decides, before any lock is taken.
    big = cascade and _big_subtree(run_id)
    with transaction.atomic():
        targets = cancel_targets(run_id, cascade=cascade and not big, lock=True)
        cancelled, finished = cancel_runs_txn(targets, reason=reason, now=timezone.now())
        announce_txn(finished)
    if big:
        cancelled += tree_cancel.cancel_descendants(run_id, targets[0].root_run_id, set(cancelled), reason=reason)
    return cancelled


def _big_subtree(run_id: str) -> bool:
    root_run_id = Run.objects.filter(id=run_id).values_list("root_run_id", flat=True).first()
    if root_run_id is None:
        return False  # cancel_targets says it is not there
    return len(tree_cancel.active_descendants(run_id, root_run_id, set())) >= tree_cancel.CANCEL_BATCH


def cancel_preview(run_id: str, *, cascade: bool = False) -> list[str]:
    """The ids `cancel_run` would cancel now (a read, nothing locked): what a confirm dialog counts."""
    return [run.id for run in cancel_targets(run_id, cascade=cascade, lock=False)]


def cancel_targets(run_id: str, *, cascade: bool, lock: bool) -> list[Run]:
    """The runs a cancel acts on, the run first: the one place both the preview and the cancel choose them
    (and refuse), so the count a dialog shows is the count the cancel ends. `lock`: rows locked (the cancel)."""
    # A preview only counts ids: it leaves the JSON columns of a large subtree unread.
    runs = Run.objects.select_for_update() if lock else Run.objects.defer("event_data", "event_user", "output")
    run = runs.filter(id=run_id).first()
    if run is None:
        raise RunNotFound(f"no run with id {run_id!r}")
    if run.status not in ACTIVE_RUN_STATUSES:
        raise ActionRefused(f"run {run_id} is {run.status}; only queued, running or waiting runs can be cancelled")
    targets = {run.id: run}
    if cascade:
        _add_active_subtree(run, targets, runs)
    return list(targets.values())


def _add_active_subtree(run: Run, targets: dict[str, Run], runs: QuerySet[Run]) -> None:
    """Every active descendant of `run` (invoke edges; send_event runs are other trees, O1b), locked when
    `runs` locks.

    Locked, race-free: a run of the subtree can only start a child by updating its own row under its lease; once
    locked here that update waits for this transaction and then fails. A child committed just before its
    parent was locked shows up in the next round, so the loop runs until a round finds nothing new.
    """
    while True:
        tree = runs.filter(root_run_id=run.root_run_id, status__in=list(ACTIVE_RUN_STATUSES))
        found = [node for node in _below(run.id, list(tree)) if node.id not in targets]
        if not found:
            return
        targets.update((node.id, node) for node in found)


def _below(run_id: str, tree: list[Run]) -> list[Run]:
    children: dict[str, list[Run]] = {}
    for node in tree:
        if node.parent_run_id:
            children.setdefault(node.parent_run_id, []).append(node)
    found, frontier = [], [run_id]
    while frontier:
        for child in children.get(frontier.pop(), []):
            found.append(child)
            frontier.append(child.id)
    return found


# --- retry --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPlan:
    """What a retry does: `executes` is the run whose function runs again (from_start: the original, which a
    new linked run re-executes) and `chain` the runs that change, from it up (root_cause: the chain that heals)."""

    mode: str
    executes: Run
    chain: list[Run]
    # from_step: the chosen step and the steps that run again with it (it first); earlier ones replay.
    rerun_steps: tuple[Step, ...] = ()
    # from_start with edited input: the new run's event (validated); None keeps the original event.
    event: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RetryDone:
    executing: str  # the run that will execute (from_start: the new run)
    plan: RetryPlan


def retry_run(run_id: str, *, mode: str = RetryMode.FROM_FAILURE, reason: str = "", step_id: str | None = None,
              data: dict[str, Any] | None = None) -> str:
    """Retry a failed run; returns the id of the run that will execute (O4, O5)."""
    return apply_retry(run_id, mode=mode, reason=reason, step_id=step_id, data=data).executing


def apply_retry(run_id: str, *, mode: str = RetryMode.FROM_FAILURE, reason: str = "", step_id: str | None = None,
                data: dict[str, Any] | None = None) -> RetryDone:
    """Retry as `retry_run` does, and say which runs it changed: the plan `retry_preview` shows, made under
    the rows' locks. `step_id`: from_step's step; `data`: from_start's edited event data."""
    with transaction.atomic():
        plan = retry_plan(run_id, mode=mode, lock=True, step_id=step_id, data=data)
        now = timezone.now()
        if plan.mode == RetryMode.FROM_START:
            return RetryDone(_rerun_from_start_txn(plan.executes, now, reason, plan.event), plan)
        if plan.mode == RetryMode.FROM_FAILURE:
            _reopen_txn(plan.executes, now, reason or "retried from its failed step")
            return RetryDone(plan.executes.id, plan)
        if plan.mode == RetryMode.FROM_STEP:
            _reopen_from_step_txn(plan, now, reason or f"retried from step {plan.rerun_steps[0].step_id}")
            return RetryDone(plan.executes.id, plan)
        return RetryDone(_heal_chain_txn(plan, run_id, now, reason), plan)


def retry_plan(run_id: str, *, mode: str, lock: bool, step_id: str | None = None,
               data: dict[str, Any] | None = None) -> RetryPlan:
    """The one place a retry is chosen (and refused), for the preview (`lock=False`, a read) and the retry
    itself (rows locked), so the two cannot disagree."""
    if mode not in RETRY_MODES:
        raise ActionRefused(f"unknown retry mode {mode!r}; use one of {', '.join(RETRY_MODES)}")
    run = (Run.objects.select_for_update() if lock else Run.objects).filter(id=run_id).first()
    if run is None:
        raise RunNotFound(f"no run with id {run_id!r}")
    if mode == RetryMode.FROM_START:
        if run.status not in TERMINAL_RUN_STATUSES:
            raise ActionRefused(f"run {run.id} is {run.status}; rerun it from the start once it has finished")
        return RetryPlan(mode, run, [run], event=None if data is None else edited_event(run, data))
    if mode == RetryMode.FROM_STEP:
        return RetryPlan(mode, run, [run], rerun_steps=tuple(_steps_from(run, step_id, lock=lock)))
    if run.status != RunStatus.FAILED:
        raise ActionRefused(f"run {run_id} is {run.status}; only a failed run can be retried")
    if mode == RetryMode.FROM_FAILURE:
        return RetryPlan(mode, run, [run])
    cause, path = root_cause_of(run, lock=lock)
    return RetryPlan(mode, cause, path)


def _reopen_txn(run: Run, now: datetime, reason: str) -> None:
    """Resume a failed run from its failed step under the same id: earlier steps replay, attempts go on.

    A failed invoke step invokes again when replayed: a new child, recorded as the step's next attempt."""
    # The failed step is the one stored where the run failed (null: the body itself failed). Only a run or an
    # invoke step is reopened: a failed step the code caught is not it (then the body failed, and runs again).
    reopened = Step.objects.filter(run_id=run.id, step_id=run.failed_step_id, status=StepStatus.FAILED,
                                   kind__in=[StepKind.RUN, StepKind.INVOKE]).update(
        status=StepStatus.RETRYING, ended_at=None, deadline=None) if run.failed_step_id else 0
    if not reopened:  # the body itself failed: its next attempt is numbered after the ones it had
        Run.objects.filter(id=run.id).update(body_failures=F("attempts"))
    Run.objects.filter(id=run.id).update(
        status=RunStatus.QUEUED, ready_at=now, error=None, output=None, ended_at=None, failure_cause_run_id=None,
        failed_step_id=None, lease_owner=None, status_reason=reason, version=F("version") + 1,
        attempts_history=attempts.reopened_run_history(run, now, reason))
    changes.run_changed(run_delta(run, RunStatus.QUEUED, run.version + 1))
    notify.runs_ready()


def edited_event(run: Run, data: Any) -> dict[str, Any]:
    """The event a rerun with edited input starts from: the original's name and user with `data`, a new id
    and time, validated as intake validates events (an object, depth, size, no NUL): InvalidEvent if not."""
    if not isinstance(data, dict):
        raise InvalidEvent(f"'data' must be a JSON object, not {type(data).__name__}")
    # internal: a child run's event is named inngest/function.invoked, which intake refuses from outside.
    return normalise_events([{"name": run.event_name, "data": data, "user": run.event_user}], internal=True)[0]


def _steps_from(run: Run, step_id: str | None, *, lock: bool) -> list[Step]:
    """from_step: the chosen step and every later one (by position), which run again; refuses when the run or
    the steps before it cannot replay."""
    if run.status not in TERMINAL_RUN_STATUSES or run.status == RunStatus.SKIPPED:
        raise ActionRefused(f"run {run.id} is {run.status}; retry it from a step once it has finished "
                            f"(completed, failed or cancelled)")
    if not isinstance(step_id, str) or not step_id:
        raise InvalidRetry("retry from a step needs 'step_id', the id of one of the run's steps")
    steps = list((Step.objects.select_for_update() if lock else Step.objects).filter(run_id=run.id)
                 .order_by("position", "id"))
    chosen = next((step for step in steps if step.step_id == step_id), None)
    if chosen is None:
        raise InvalidRetry(f"run {run.id} has no step {step_id!r}")
    unsettled = [step.step_id for step in steps if step.position < chosen.position
                 and step.status not in (StepStatus.COMPLETED, StepStatus.FAILED)]
    if unsettled:
        raise ActionRefused(f"step {unsettled[0]!r} before {step_id!r} never finished, so it cannot be replayed; "
                            f"retry from it instead")
    later = [step for step in steps if step.position >= chosen.position and step.id != chosen.id]
    return [chosen, *later]


def _reopen_from_step_txn(plan: RetryPlan, now: datetime, reason: str) -> None:
    """The run runs again from the chosen step under the same id: earlier steps replay from the memo, the chosen
    one and the later ones run again. A run or invoke step is reopened with its history kept (a reopened
    invoke starts a new child, its next attempt); a sleep, a wait or a sent event (and, for an SDK app, a run
    step after the chosen one) is planned anew, its row kept in the closed attempt of the run's history
    (`reset_steps`)."""
    run = plan.executes
    sdk = _is_sdk_run(run)
    chosen = plan.rerun_steps[0]

    def in_place(step: Step) -> bool:
        # An SDK app (HTTP driver) runs a reopened run step by a targeted call, which needs every step before it
        # in the memo: only the chosen one can be; its later run steps are found anew as the SDK reaches them.
        return step.kind == StepKind.INVOKE or step.kind == StepKind.RUN and (not sdk or step.id == chosen.id)

    reopen = [step.id for step in plan.rerun_steps if in_place(step)]
    replan = [step for step in plan.rerun_steps if not in_place(step)]
    # The error stays until the step's next attempt ends: its history records how the earlier one ended.
    Step.objects.filter(id__in=reopen).update(status=StepStatus.RETRYING, ended_at=None, deadline=None)
    Step.objects.filter(id__in=[step.id for step in replan]).delete()
    history = attempts.reopened_run_history(run, now, reason)
    if replan:
        history[-2]["reset_steps"] = [attempts.step_record(step, now) for step in replan]
    fields: dict[str, Any] = {}
    if run.status == RunStatus.FAILED and not run.failed_step_id:
        fields["body_failures"] = F("attempts")  # its body failed: its next attempt numbers after the ones it had
    Run.objects.filter(id=run.id).update(
        status=RunStatus.QUEUED, ready_at=now, error=None, output=None, ended_at=None, failure_cause_run_id=None,
        failed_step_id=None, lease_owner=None, status_reason=reason, version=F("version") + 1,
        attempts_history=history, **fields)
    changes.run_changed(run_delta(run, RunStatus.QUEUED, run.version + 1))
    notify.runs_ready()


def _is_sdk_run(run: Run) -> bool:
    config = Function.objects.filter(app_id=run.app_id, function_id=run.function_id).values_list(
        "config", flat=True).first() or {}
    return config.get("runtime") in (RUNTIME_INNGEST_PY, RUNTIME_INNGEST_JS)


def _rerun_from_start_txn(run: Run, now: datetime, reason: str, edited: dict[str, Any] | None = None) -> str:
    """A new run of the same function with the same event (or `edited`, the operator's edited input), linked to
    the original (a new root)."""
    event = edited or {"id": run.event_id, "name": run.event_name, "data": run.event_data, "user": run.event_user,
                       "ts": run.event_ts}
    rerun = new_run(app_id=run.app_id, function_id=run.function_id, event=event, now=now, run_id=new_id())
    rerun.rerun_of_run_id = run.id
    rerun.status_reason = reason or f"rerun from the start of run {run.id}" + (" with edited input" if edited else "")
    config = Function.objects.filter(app_id=run.app_id, function_id=run.function_id).values_list(
        "config", flat=True).first() or {}
    superseded = flow.admit_txn([rerun], {(run.app_id, run.function_id): config}, now)
    rerun.save(force_insert=True)
    publish_new_runs([rerun, *superseded])
    notify.runs_ready()
    return rerun.id


def retry_preview(run_id: str, *, mode: str = RetryMode.FROM_FAILURE) -> tuple[Run, list[Run]]:
    """`retry_preview_plan`'s run that would execute and the runs that resume after it."""
    plan = retry_preview_plan(run_id, mode=mode)
    return plan.executes, plan.chain


def retry_preview_plan(run_id: str, *, mode: str = RetryMode.FROM_FAILURE, step_id: str | None = None,
                       data: dict[str, Any] | None = None) -> RetryPlan:
    """What `retry_run` would do now (a read, nothing locked): the run that would execute (for from_start, the
    original, whose function runs again), the runs that resume after it, from it up (root_cause: the chain
    that heals), and the steps that run again (from_step). Refuses exactly as `retry_run` would (both go
    through `retry_plan`)."""
    return retry_plan(run_id, mode=mode, lock=False, step_id=step_id, data=data)


def root_cause_of(run: Run, *, lock: bool = True) -> tuple[Run, list[Run]]:
    """The root cause of a failed run's chain and the propagation path from it up (O2), rows locked one by
    one as the walk (runs/causes.py, the dashboard's too) reaches them: down the chain, then up the path."""
    runs = Run.objects.select_for_update() if lock else Run.objects.all()
    loaded: dict[str, Run | None] = {run.id: run}

    def lookup(run_id: str) -> dict[str, str | None] | None:
        if run_id not in loaded:
            loaded[run_id] = runs.filter(id=run_id).first()
        row = loaded[run_id]
        return None if row is None else {"status": row.status, "parent_run_id": row.parent_run_id,
                                         "failure_cause_run_id": row.failure_cause_run_id}

    cause_id = causes.root_cause(run.id, lookup) or run.id
    path = causes.propagation_path(cause_id, lookup)
    return _known(loaded, cause_id), [_known(loaded, run_id) for run_id in path]


def _known(loaded: dict[str, Run | None], run_id: str) -> Run:
    row = loaded[run_id]
    assert row is not None, run_id  # the walk only returns runs it found
    return row


def _heal_chain_txn(plan: RetryPlan, run_id: str, now: datetime, reason: str) -> str:
    """O5: retry the chain's root cause; every ancestor that failed only because of it waits on it again, from
    its failed invoke step (same child, no new run), and resumes with the new result when it ends."""
    cause, path = plan.executes, plan.chain
    waiting = f"waiting on the retried root cause {cause.id}"  # cleared when it resumes or ends (status_reason)
    for child, parent in zip(path, path[1:], strict=False):
        # Its failed attempt is kept (start, end, error) before it waits again: its own and its invoke step's.
        for step in Step.objects.filter(run_id=parent.id, step_id=child.parent_step_id, child_run_id=child.id):
            attempts.rewait_invoke_step(step, now)
        Run.objects.filter(id=parent.id).update(
            status=RunStatus.WAITING, ready_at=None, error=None, ended_at=None, failure_cause_run_id=None,
            failed_step_id=None, status_reason=waiting, version=F("version") + 1,
            attempts_history=attempts.reopened_run_history(parent, now, f"its root cause {cause.id} was retried"))
        changes.run_changed(run_delta(parent, RunStatus.WAITING, parent.version + 1))
    _reopen_txn(cause, now, reason or f"root cause of the failure of run {run_id}, retried")
    return cause.id


# --- bulk ---------------------------------------------------------------------------------------------------

# Runs per transaction of a bulk action: a commit (a WAL flush) per run is saved for 99 of 100 runs. A batch
# also commits once it has run BULK_TXN_SECONDS, so no transaction nears the 1 s bound on a loaded
# machine (docs/scaling.md).
BULK_BATCH = 100
BULK_TXN_SECONDS = 0.25


MAX_SELECTED = 1000  # run ids one bulk action by selection may name (a page holds at most 500 rows)
PREVIEW_IDS = 1000  # run ids a dry run lists (the count is exact)


def matching_runs(action: str, filters: dict[str, object],  # type: ignore[no-untyped-def]
                  run_ids: list[str] | None = None):
    """The runs a bulk action applies to: the filters (or the runs selected by id), narrowed to the runs the
    action can act on."""
    runs = filtered_runs(filters) if run_ids is None else Run.objects.filter(id__in=selected_ids(run_ids))
    if action == ActionKind.CANCEL:
        return runs.filter(status__in=list(ACTIVE_RUN_STATUSES))
    if action == ActionKind.RETRY:
        return runs.filter(status=RunStatus.FAILED)
    raise ActionRefused(f"unknown bulk action {action!r}; use cancel or retry")


def selected_ids(run_ids: object) -> list[str]:
    """A selection of run ids, checked: a list of 1 to MAX_SELECTED run ids (InvalidFilter otherwise)."""
    if not isinstance(run_ids, list) or not run_ids:
        raise InvalidFilter("'run_ids' must be a non-empty list of run ids")
    if len(run_ids) > MAX_SELECTED:
        raise InvalidFilter(f"'run_ids' names {len(run_ids)} runs; at most {MAX_SELECTED} at a time")
    for run_id in run_ids:
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
            raise InvalidFilter(f"'run_ids' holds something that is not a run id: {str(run_id)[:40]!r}")
    return list(dict.fromkeys(run_ids))


def preview_ids(runs: QuerySet[Run]) -> list[str]:
    """The first PREVIEW_IDS run ids a bulk action would touch, in the order it touches them."""
    return list(runs.order_by("created_at", "id").values_list("id", flat=True)[:PREVIEW_IDS])


def bulk_apply(action: str, filters: dict[str, object], *, on_progress=None,  # type: ignore[no-untyped-def]
               done_ids: list[str] | None = None, run_ids: list[str] | None = None) -> int:
    """Cancel or retry every matching run; returns how many it did (and appends their ids to `done_ids`, for
    the audit record)."""
    ids = list(matching_runs(action, filters, run_ids).order_by("created_at", "id").values_list("id", flat=True))
    return apply_each(action, ids, on_progress=on_progress, done_ids=done_ids)


def apply_each(action: str, ids: list[str], *, mode: str = RetryMode.FROM_FAILURE,  # type: ignore[no-untyped-def]
               cascade: bool = False, on_progress=None, done_ids: list[str] | None = None) -> int:
    """Cancel or retry (in `mode`) each run of `ids`; returns how many it did (and appends the ids to `done_ids`
    once their batch committed). One transaction per BULK_BATCH runs (or BULK_TXN_SECONDS), each run in its
    own savepoint: a refusal skips that run only, and a crash leaves the batches already committed done. A
    batch the database fails (a deadlock with a worker's pass) is done again one run per transaction. A
    cascading cancel is always its own transactions (a big subtree is cancelled in batches of its own)."""
    done = position = 0
    while position < len(ids):
        following = min(len(ids), position + BULK_BATCH)
        applied: list[str] | None = None
        if not cascade:
            try:
                with transaction.atomic():
                    applied, following = _apply_for_a_while(action, ids, position, mode)
            except DatabaseError:
                applied = None  # rolled back: this batch again, one run per transaction
        if applied is None:  # one run per transaction: each counts as done once it committed, even if a later fails
            for run_id in ids[position:following]:
                if _apply_one(action, run_id, mode, cascade):
                    done += 1
                    if done_ids is not None:
                        done_ids.append(run_id)
        else:
            done += len(applied)
            if done_ids is not None:
                done_ids.extend(applied)
        position = following
        if on_progress is not None:
            on_progress(position, len(ids))
    return done


def _apply_for_a_while(action: str, ids: list[str], position: int, mode: str) -> tuple[list[str], int]:
    """In the caller's transaction: apply from `position` until BULK_BATCH runs or BULK_TXN_SECONDS (at least
    one run); returns the ids applied and where the next transaction starts."""
    started, applied = time.monotonic(), []
    end = min(len(ids), position + BULK_BATCH)
    while position < end:
        if _apply_one(action, ids[position], mode, cascade=False):
            applied.append(ids[position])
        position += 1
        if time.monotonic() - started >= BULK_TXN_SECONDS:
            break
    return applied, position


def _apply_one(action: str, run_id: str, mode: str, cascade: bool) -> bool:
    """One run of a bulk action, in its own (sub)transaction; False if it changed since it matched."""
    try:
        if action == ActionKind.CANCEL:
            cancel_run(run_id, cascade=cascade, reason="cancelled in bulk")
        else:
            retry_run(run_id, mode=mode, reason="retried in bulk")
    except (ActionRefused, RunNotFound):
        return False  # it changed since it matched (finished, retried, pruned): nothing to do
    return True


def incident_targets(incident_id: str, action: str) -> list[str]:
    """The roots of an incident an action applies to, oldest first: retry, those still failed (each retries its
    root cause); cancel, those active again (retried and not yet ended), with what they invoked."""
    if not incidents.is_incident_id(incident_id) or not Incident.objects.filter(id=incident_id).exists():
        raise IncidentNotFound(f"no incident with id {incident_id[:40]!r}")
    roots = Run.objects.filter(incident_id=incident_id)
    if action == ActionKind.CANCEL:
        roots = roots.filter(status__in=list(ACTIVE_RUN_STATUSES))
    elif action == ActionKind.RETRY:
        roots = roots.filter(status=RunStatus.FAILED)
    else:
        raise ActionRefused(f"unknown incident action {action!r}; use cancel or retry")
    return list(roots.order_by("created_at", "id").values_list("id", flat=True))
