"""Plain records the store returns: built from rows, free of I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runs.status import TERMINAL_RUN_STATUSES


@dataclass(frozen=True, slots=True, kw_only=True)
class StepInfo:
    step_id: str
    kind: str
    status: str
    output: Any
    error: dict[str, Any] | None
    attempts: int
    child_run_id: str | None
    started_at: datetime | None
    ended_at: datetime | None
    position: int = 0
    target: str = ""
    deadline: datetime | None = None
    history: tuple[dict[str, Any], ...] = ()
    display_name: str = ""  # SDK steps: the readable name (their step_id is its SHA-1 hash); "" for native steps
    input: Any = None  # what the step was given: an invoke's data/user, send_event's events, step.run's arguments


@dataclass(frozen=True, slots=True, kw_only=True)
class RunAttempt:
    """One attempt of a run: from its first start, or from an operator's retry (O4, O5), to its end. A run that
    was never retried has one. `status` and `ended_at` are None while the attempt goes on; `reason` says why it
    began (None for the first)."""

    attempt: int
    status: str | None
    started_at: datetime | None
    ended_at: datetime | None
    error: dict[str, Any] | None = None
    reason: str | None = None

    @property
    def duration_ms(self) -> float | None:
        """How long the attempt took; None until it has ended (or if it never started)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, (self.ended_at - self.started_at).total_seconds() * 1000)


def run_attempts(history: Sequence[dict[str, Any]], *, status: str, started_at: datetime | None,
                 ended_at: datetime | None, error: dict[str, Any] | None) -> tuple[RunAttempt, ...]:
    """A run's attempts from its stored `attempts_history` (runs/store/attempts.py) and its row: the last
    attempt's end and outcome are the row's, once the run is terminal."""
    terminal = status in TERMINAL_RUN_STATUSES
    if not history:
        return (RunAttempt(attempt=1, status=status if terminal else None, started_at=started_at,
                           ended_at=ended_at if terminal else None, error=error if terminal else None),)
    attempts = [RunAttempt(attempt=int(entry.get("attempt") or number), status=entry.get("status"),
                           started_at=_moment(entry.get("started_at")), ended_at=_moment(entry.get("ended_at")),
                           error=entry.get("error"), reason=entry.get("reason"))
                for number, entry in enumerate(history, start=1)]
    last = attempts[-1]
    if terminal and last.ended_at is None:
        attempts[-1] = RunAttempt(attempt=last.attempt, status=status, started_at=last.started_at,
                                  ended_at=ended_at, error=error, reason=last.reason)
    return tuple(attempts)


def _moment(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    id: str
    app_id: str
    function_id: str
    status: str
    output: Any
    error: dict[str, Any] | None
    attempts: int
    event_id: str
    event_name: str
    parent_run_id: str | None
    parent_step_id: str | None
    root_run_id: str
    failure_cause_run_id: str | None
    triggered_by_run_id: str | None
    # Why the run is in its state (e.g. "waiting on the retried root cause ..."); None once that state has ended.
    status_reason: str | None
    depth: int
    steps: list[StepInfo]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    version: int = 1
    failed_step_id: str | None = None  # the step whose failure failed the run (None: its body failed)
    # Each attempt's own start, end and outcome (an operator's retry starts the next one), oldest first.
    attempts_history: tuple[RunAttempt, ...] = ()
    rerun_of_run_id: str | None = None  # a rerun from the start (O4) names the run it reran

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimedRun:
    """A run a worker holds the lease on, with what it needs to execute one pass."""

    id: str
    app_id: str
    function_id: str
    event: dict[str, Any]
    body_failures: int
    depth: int
    root_run_id: str
    attempts: int
    wakeups: int
    lease_owner: str
    has_steps: bool
    version: int = 1
    parent_run_id: str | None = None
    parent_step_id: str | None = None
    concurrency_key: str | None = None
    concurrency_limit: int = 0

    @property
    def event_name(self) -> str:
        return self.event["name"]
