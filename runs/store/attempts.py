"""The attempts of runs and invoke steps that an operator's retry reopens (O4, O5): the one place that writes
them, so each attempt keeps its own start, end and outcome instead of having them rewritten by the next one.

A run's `attempts_history` is empty until its first retry; then it holds every attempt, the last one open (its
end and outcome are the row's until the next retry closes it). Readers go through `runs.domain.run_attempts`.
An invoke step's `history` holds its earlier attempts (the step row is the current one), as a retried invoke
(runs/store/passes.py) records them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runs.models import Run, Step
from runs.status import StepStatus


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def reopened_run_history(run: Run, now: datetime, reason: str) -> list[dict[str, Any]]:
    """`run`'s attempts_history once its current attempt, which ended, is closed with the row's end and outcome
    and a new one opens at `now` for `reason`. `run` is the locked row as it is before the retry changes it."""
    history = [dict(entry) for entry in run.attempts_history or []]
    if not history or history[-1].get("ended_at") is not None:
        history.append({"attempt": len(history) + 1, "started_at": _iso(run.started_at or run.created_at),
                        "reason": None})
    history[-1].update(status=run.status, ended_at=_iso(run.ended_at or now), error=run.error)
    history.append({"attempt": len(history) + 1, "started_at": _iso(now), "ended_at": None, "status": None,
                    "error": None, "reason": reason})
    return history


def rewait_invoke_step(step: Step, now: datetime) -> None:
    """A failed invoke step waits on the same child again (O5 heals it): its failed attempt goes to its history
    (start, end, error, child) and the step's next attempt starts now. Saves the step."""
    step.history = [*(step.history or []), {
        "attempt": step.attempts, "status": step.status, "child_run_id": step.child_run_id, "error": step.error,
        "started_at": _iso(step.started_at), "ended_at": _iso(step.ended_at or now)}]
    step.attempts += 1
    step.status, step.error, step.ended_at, step.deadline, step.started_at = StepStatus.WAITING, None, None, None, now
    step.save(update_fields=["history", "attempts", "status", "error", "ended_at", "deadline", "started_at"])


def step_record(step: Step, now: datetime) -> dict[str, Any]:
    """What is kept of a step row a retry from an earlier step removes (a sleep, a wait, a sent event, which
    run again as new rows): its kind, outcome and times."""
    return {"step_id": step.step_id, "kind": step.kind, "status": step.status, "attempts": step.attempts,
            "output": step.output, "error": step.error, "started_at": _iso(step.started_at),
            "ended_at": _iso(step.ended_at or now)}
