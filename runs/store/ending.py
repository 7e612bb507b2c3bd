"""What happens, in the same transaction, when a run ends: its parent's invoke step resolves and the
`inngest/function.finished` event is made for the functions triggered by it (S8).

Ending a run does not dispatch that event itself: it hands it back (`Finished`) and the caller has intake
dispatch it (`runs.store.intake.announce_txn`). Dispatching can cancel runs (cancel-on rules), which ends them,
so ending must sit below intake, not call into it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from runs.errors import ErrorRecord
from runs.events import FUNCTION_FINISHED
from runs.exceptions import InvokeCancelledError
from runs.ids import new_id
from runs.models import Function, Run, Step
from runs.status import RunStatus, StepStatus
from runs.store import changes, incidents
from runs.store.rows import run_delta, wake_resumed


class EndingRun(Protocol):
    """What ending a run needs to know of it (a Run row or a worker's ClaimedRun)."""

    @property
    def id(self) -> str: ...
    @property
    def app_id(self) -> str: ...
    @property
    def function_id(self) -> str: ...
    @property
    def parent_run_id(self) -> str | None: ...
    @property
    def parent_step_id(self) -> str | None: ...
    @property
    def event_name(self) -> str: ...
    @property
    def root_run_id(self) -> str: ...
    @property
    def version(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Finished:
    """A run's `inngest/function.finished` event and the functions it goes to (intake dispatches it)."""

    event: dict[str, Any]
    listeners: frozenset[tuple[str, str]]


def end_run_txn(run: EndingRun, status: str, *, now: datetime, output: Any = None,
                error: dict[str, Any] | None = None, attempts: int | None = None, cause_run_id: str | None = None,
                reason: str = "") -> Finished | None:
    """Mark `run` terminal and resolve whoever waits on it. Call inside a transaction holding the run's row.
    Returns its finished event for the caller to dispatch (None: no function listens)."""
    mark_ended_txn(run, status, now=now, output=output, error=error, attempts=attempts,
                   cause_run_id=cause_run_id, reason=reason)
    _, finished = after_end_txn(run, status, now=now, output=output, error=error)
    return finished


def mark_ended_txn(run: EndingRun, status: str, *, now: datetime, output: Any = None,
                   error: dict[str, Any] | None = None, attempts: int | None = None,
                   cause_run_id: str | None = None, reason: str = "", lease_owner: str | None = None,
                   failed_step_id: str | None = None) -> bool:
    """The terminal state of the run's row; with `lease_owner`, only while that lease still holds it.
    `failed_step_id`: the step whose failure failed the run (a retry from the failure reopens it, O4)."""
    fields = ended_fields(run, status, now=now, output=output, error=error, attempts=attempts,
                          cause_run_id=cause_run_id, reason=reason, failed_step_id=failed_step_id)
    rows = Run.objects.filter(id=run.id)
    if lease_owner is not None:
        rows = rows.filter(lease_owner=lease_owner)
    if rows.update(**fields) != 1:
        return False
    if status == RunStatus.FAILED:  # a failed root joins its incident now: pages never compute root causes
        incidents.record_failure_txn(run, now=now, error=error, failed_step_id=failed_step_id,
                                     cause_run_id=cause_run_id)
    changes.run_changed(run_delta(run, status, run.version + 1))
    return True


def ended_fields(run: EndingRun, status: str, *, now: datetime, output: Any = None,
                 error: dict[str, Any] | None = None, attempts: int | None = None, cause_run_id: str | None = None,
                 reason: str = "", failed_step_id: str | None = None) -> dict[str, Any]:
    """The columns of a run's row as it ends."""
    fields: dict[str, Any] = {
        "status": status, "output": output, "error": error, "ended_at": now, "ready_at": None,
        "lease_owner": None, "failure_cause_run_id": cause_run_id, "version": run.version + 1,
        "failed_step_id": failed_step_id if status == RunStatus.FAILED else None,
    }
    if attempts is not None:
        fields["attempts"] = attempts
    # The reason of the terminal state, or none: a reason of the state it leaves (queued or waiting after a
    # retry) no longer holds.
    fields["status_reason"] = reason
    return fields


def after_end_txn(run: EndingRun, status: str, *, now: datetime, output: Any = None,
                  error: dict[str, Any] | None = None, hand_off: bool = False) -> tuple[str | None, Finished | None]:
    """Resolve the parent's invoke step and make the finished event: (parent to resume, finished event).

    With `hand_off`, a parent that can resume at once is not woken but returned: the caller may execute it
    next itself (and must wake it if it cannot). The finished event is the caller's to dispatch.
    """
    parent_due = _resolve_parent_txn(run, status, output, error, now) if run.parent_run_id else None
    finished = finished_event(run, status, output, error)
    if parent_due and not hand_off:
        wake_resumed(parent_due, now)
        return None, finished
    return parent_due, finished


def _resolve_parent_txn(run: EndingRun, status: str, output: Any, error: dict[str, Any] | None,
                        now: datetime) -> str | None:
    """Resolve the parent's invoke step; returns the parent's id when it did."""
    fields = parent_step_fields(run, status, output, error)
    # Only the step still waiting on this very child: a timed-out invoke has already failed (S5).
    resolved = Step.objects.filter(run_id=run.parent_run_id, step_id=run.parent_step_id,
                                   status=StepStatus.WAITING, child_run_id=run.id).update(ended_at=now, **fields)
    return run.parent_run_id if resolved else None


def parent_step_fields(run: EndingRun, status: str, output: Any, error: dict[str, Any] | None) -> dict[str, Any]:
    """What the parent's invoke step becomes when this child ends: its result, or a non-retriable error."""
    if status == RunStatus.COMPLETED:
        return {"status": StepStatus.COMPLETED, "output": output}
    if status == RunStatus.CANCELLED:
        return {"status": StepStatus.FAILED, "error": ErrorRecord.raised_as(
            InvokeCancelledError, f"invoked function was cancelled ({run.app_id}/{run.function_id}, run {run.id})",
            run_id=run.id).to_json()}
    return {"status": StepStatus.FAILED, "error": ErrorRecord.child_failed(error, run.id).to_json()}


# Functions triggered by the finished event change rarely; a short cache keeps one query off every run's end.
_finished_listeners: tuple[float, list[tuple[str, str]]] = (0.0, [])


def _listeners() -> list[tuple[str, str]]:
    global _finished_listeners
    loaded_at, listeners = _finished_listeners
    if time.monotonic() - loaded_at > 2.0:
        listeners = list(Function.objects.filter(trigger=FUNCTION_FINISHED).values_list("app_id", "function_id"))
        _finished_listeners = (time.monotonic(), listeners)
    return listeners


def forget_listeners() -> None:
    global _finished_listeners
    _finished_listeners = (0.0, [])


def finished_event(run: EndingRun, status: str, output: Any, error: dict[str, Any] | None) -> Finished | None:
    # A function triggered by the finished event is not triggered by its own runs' ends (no loops); the
    # event is stored only when some function listens (the parent, if any, was resolved directly above).
    if run.event_name == FUNCTION_FINISHED:
        # A listener's own end is not news to other listeners: two listeners would otherwise trigger each
        # other without end.
        return None
    listeners = [key for key in _listeners() if key != (run.app_id, run.function_id)]
    if not listeners:
        return None
    data: dict[str, Any] = {"function_id": run.function_id, "app_id": run.app_id, "run_id": run.id,
                            "correlation_id": f"{run.parent_run_id}.{run.parent_step_id}" if run.parent_run_id
                            else None, "status": status}
    if status == RunStatus.COMPLETED:
        data["result"] = output
    else:
        data["error"] = error or ErrorRecord(name=status, message=f"run {status}").to_json()
    event = {"id": new_id(), "name": FUNCTION_FINISHED, "data": data, "user": {}, "ts": int(time.time() * 1000)}
    return Finished(event=event, listeners=frozenset(listeners))
