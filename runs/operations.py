"""Operator actions with their audit records: the one entry point for the client, the HTTP API and the pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from runs.exceptions import ActionRefused, InvalidEvent, RunNotFound
from runs.status import ActionKind, ActionOutcome, OperatorActionName, RetryMode
from runs.store import actions, audit, pausing, waits
from runs.values import storable_text

T = TypeVar("T")


def cancel(run_id: str, *, cascade: bool = False, actor: Any = "python") -> list[str]:
    """Cancel a run (with `cascade`, its active descendants too) and audit it; returns the ids cancelled."""
    name = OperatorActionName.CANCEL_CASCADE if cascade else OperatorActionName.CANCEL
    try:
        cancelled = actions.cancel_run(run_id, cascade=cascade, reason=f"cancelled by {_name(actor)}")
    except (ActionRefused, RunNotFound) as exc:
        audit.record_action(user=actor, action=name, run_ids=[run_id], outcome=ActionOutcome.REFUSED, detail=str(exc))
        raise
    audit.record_action(user=actor, action=name, run_ids=cancelled, detail=f"{len(cancelled)} run(s) cancelled")
    return cancelled


def retry(run_id: str, *, mode: str = "from_failure", actor: Any = "python", step_id: str | None = None,
          data: dict[str, Any] | None = None) -> str:
    """Retry a run (`from_failure`, `from_start`, `root_cause`, `from_step` with `step_id`; `from_start` with
    `data` reruns with edited input) and audit it; returns the id of the run that executes."""
    name = f"retry_{mode}"  # OperatorActionName.RETRY_*; an unknown mode is audited, refused, under its own name
    reason = f"{name.replace('_', ' ')} by {_name(actor)}"
    if step_id is not None and mode == RetryMode.FROM_STEP:
        reason = f"retry from step {step_id} by {_name(actor)}"
    if data is not None and mode == RetryMode.FROM_START:
        reason = f"rerun from start with edited input by {_name(actor)}"
    try:
        done = actions.apply_retry(run_id, mode=mode, reason=reason, step_id=step_id, data=data)
    except (ActionRefused, RunNotFound, InvalidEvent) as exc:
        audit.record_action(user=actor, action=name, run_ids=[run_id], outcome=ActionOutcome.REFUSED, detail=str(exc))
        raise
    # Name every run the retry changed (root_cause: the chain that heals), so each run page shows the action.
    ids = list(dict.fromkeys([run_id, done.executing, *(run.id for run in done.plan.chain)]))
    detail = f"run {done.executing} will execute"
    if done.plan.rerun_steps:
        detail += f" from step {done.plan.rerun_steps[0].step_id} ({len(done.plan.rerun_steps)} step(s) run again)"
    if done.plan.event is not None:
        detail += f", a rerun of {run_id} with edited input"
    audit.record_action(user=actor, action=name, run_ids=ids, detail=detail)
    return done.executing


def set_paused(app_id: str, function_id: str, paused: bool, *, actor: Any = "python") -> pausing.PauseChange:
    """Pause or resume a function and audit it (the record names no run: the function is in its detail)."""
    name = OperatorActionName.PAUSE_FUNCTION if paused else OperatorActionName.RESUME_FUNCTION
    what = f"function {app_id}/{function_id}"
    try:
        change = pausing.set_paused(app_id, function_id, paused)
    except RunNotFound as exc:
        audit.record_action(user=actor, action=name, run_ids=[], outcome=ActionOutcome.REFUSED,
                            detail=f"{what}: {exc}")
        raise
    if not change.changed:
        detail = f"{what} was already {'paused' if paused else 'running'}"
    elif paused:
        detail = f"{what} paused: its new runs queue, none starts until it is resumed"
    else:
        detail = f"{what} resumed: {change.resumed_runs} queued run(s) due again"
    audit.record_action(user=actor, action=name, run_ids=[], detail=detail)
    return change


def bulk(action: str, filters: dict[str, Any], *, dry_run: bool = False, actor: Any = "python",
         run_ids: list[str] | None = None) -> dict[str, Any]:
    """Preview (dry_run) or apply a bulk cancel/retry of the runs matching `filters`, or of the runs selected
    by id (`run_ids`); returns {"matched": n, "run_ids": [...]} (a preview: the ids it would touch, the first
    actions.PREVIEW_IDS) or {"matched": n, "done": k}."""
    matching = actions.matching_runs(action, filters, run_ids)
    matched = matching.count()
    if dry_run:
        return {"matched": matched, "run_ids": actions.preview_ids(matching)}
    record = audit.record_action(user=actor, action=f"bulk_{action}", run_ids=[],
                                 filters=filters if run_ids is None else {"selected": len(run_ids)},
                                 outcome=ActionOutcome.RUNNING, total=matched)
    done_ids: list[str] = []
    try:
        done = actions.bulk_apply(action, filters, on_progress=lambda n, total: audit.progress(record, n, total),
                                  done_ids=done_ids, run_ids=run_ids)
    except Exception as exc:
        # The runs done so far stay done (one transaction each); the record must not stay "running" for ever.
        audit.finish(record, outcome=ActionOutcome.FAILED, processed=len(done_ids), run_ids=done_ids,
                     detail=f"failed after {len(done_ids)} of {matched} matched run(s): "
                            f"{type(exc).__name__}: {storable_text(str(exc))}")
        raise
    audit.finish(record, outcome=ActionOutcome.DONE, processed=done, detail=f"{done} of {matched} matched run(s)",
                 run_ids=done_ids)
    return {"matched": matched, "done": done}


def incident(incident_id: str, action: str, *, dry_run: bool = False, actor: Any = "python") -> dict[str, Any]:
    """Preview (dry_run) or apply "retry root causes" / "cancel all" to an incident's roots, as one audited bulk
    action (filters {"incident": id}): retry, its failed roots, each retrying its root cause (O5); cancel, its
    roots active again, each with its descendants. Returns {"matched": n, "run_ids": [...]} (+ "done": k)."""
    ids = actions.incident_targets(incident_id, action)
    if dry_run:
        return {"matched": len(ids), "run_ids": ids}
    record = audit.record_action(user=actor, action=f"bulk_{action}", run_ids=ids, filters={"incident": incident_id},
                                 outcome=ActionOutcome.RUNNING, total=len(ids))
    done_ids: list[str] = []
    try:
        done = actions.apply_each(action, ids, mode=RetryMode.ROOT_CAUSE, cascade=True, done_ids=done_ids,
                                  on_progress=lambda n, total: audit.progress(record, n, total))
    except Exception as exc:
        audit.finish(record, outcome=ActionOutcome.FAILED, processed=len(done_ids), run_ids=done_ids,
                     detail=f"failed after {len(done_ids)} of {len(ids)} run(s) of incident {incident_id}: "
                            f"{type(exc).__name__}: {storable_text(str(exc))}")
        raise
    verb = "retried (root cause)" if action == ActionKind.RETRY else "cancelled"
    audit.finish(record, outcome=ActionOutcome.DONE, processed=done, run_ids=done_ids,
                 detail=f"incident {incident_id}: {done} of {len(ids)} run(s) {verb}")
    return {"matched": len(ids), "run_ids": ids, "done": done}


def wake(run_id: str, *, step_id: str | None = None, actor: Any = "python") -> str:
    """End a waiting run's sleep now and audit it; returns the step id woken."""
    return _audited(OperatorActionName.WAKE, run_id, lambda: waits.wake_sleep(run_id, step_id),
                    lambda woken: ([run_id], f"sleep {woken!r} ended now"), actor)


def fail_invoke(run_id: str, step_id: str, *, actor: Any = "python") -> str:
    """Fail a waiting invoke step (its child goes on) and audit it; returns the child's id."""
    return _audited(OperatorActionName.FAIL_INVOKE, run_id,
                    lambda: waits.fail_invoke(run_id, step_id, by=_name(actor)),
                    lambda child: ([run_id], f"invoke {step_id!r} failed by operator; run {child} goes on"), actor)


def cancel_invoke(run_id: str, step_id: str, *, cascade: bool = True, actor: Any = "python") -> waits.CancelledInvoke:
    """Cancel the child a waiting invoke step waits on (and its descendants) and audit it."""
    reason = f"invoke {step_id!r} of run {run_id} cancelled by {_name(actor)}"
    return _audited(OperatorActionName.CANCEL_INVOKE, run_id,
                    lambda: waits.cancel_invoke(run_id, step_id, cascade=cascade, reason=reason),
                    lambda done: ([run_id, *done.cancelled], f"invoke {step_id!r}: {len(done.cancelled)} run(s) "
                                                             f"cancelled"), actor)


def _audited(action: str, run_id: str, work: Callable[[], T], named: Callable[[T], tuple[list[str], str]],
             actor: Any) -> T:
    """Do an action on one run and record it, refused or done (O6)."""
    try:
        done = work()
    except (ActionRefused, RunNotFound) as exc:
        audit.record_action(user=actor, action=action, run_ids=[run_id], outcome=ActionOutcome.REFUSED, detail=str(exc))
        raise
    run_ids, detail = named(done)
    audit.record_action(user=actor, action=action, run_ids=run_ids, detail=detail)
    return done


def _name(actor: Any) -> str:
    return actor.get_username() if hasattr(actor, "get_username") else str(actor)
