"""The state of one execution pass: memo lookups, step ids, planned steps and ops not yet committed.

Shared by the async and the sync step APIs (runs/sdk/steps.py), which see it through the SDK's `RunningPass`
protocol (runs/sdk/protocol.py); it never touches the database (commits go through the checkpoint it is given).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from runs.durations import deadline
from runs.errors import ErrorRecord, step_error_from
from runs.exceptions import (
    CommitRefused,
    LeaseLost,
    LimitExceeded,
    NondeterminismError,
    NonRetriableError,
    RetryAfterError,
    StepError,
)
from runs.limits import MAX_STEP_ID_CHARS, check_length
from runs.ops import StepCompleted, StepFailed, StepMemo, StepOp
from runs.sdk.protocol import Blocked

__all__ = ["Aborted", "Blocked", "Invocation", "PassState", "backoff", "now", "retry_time", "step_error_from"]

MAX_STEPS_PER_RUN = 1000
MAX_BACKOFF = timedelta(hours=1)


class Aborted(BaseException):
    """Unwinds a function whose pass cannot go on (its run was cancelled or taken over mid-pass, or the
    database refused its checkpoint); carries the store's LeaseLost or CommitRefused. A BaseException for
    the same reason as Blocked."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(frozen=True, slots=True, kw_only=True)
class Invocation:
    """What the engine hands a driver: the run, its event and its recorded steps."""

    run_id: str
    app_id: str
    function_id: str
    event: dict[str, Any]
    memo: dict[str, StepMemo]
    body_failures: int
    depth: int
    retry_base_seconds: float
    max_depth: int
    unsettled: bool = False  # the pass shares a hop's open transaction: settle it before any side effect


def now() -> datetime:
    return datetime.now(UTC)


def backoff(attempt: int, base_seconds: float) -> timedelta:
    """Exponential backoff with jitter after the `attempt`-th failure (1-based), scaled by the setting."""
    seconds = base_seconds * (2 ** min(attempt - 1, 12)) * random.uniform(0.9, 1.1)
    return min(timedelta(seconds=seconds), MAX_BACKOFF * max(base_seconds, 0.001))


def retry_time(exc: BaseException, attempt: int, base_seconds: float) -> datetime:
    if isinstance(exc, RetryAfterError):
        # RetryAfterError's delay is the user's word: never scaled by RUNS_RETRY_BASE_SECONDS.
        return deadline(exc.retry_after, now())
    return now() + backoff(attempt, base_seconds)


class PassState:
    """Implements the SDK's `RunningPass` protocol for one pass of the in-process driver."""

    def __init__(self, invocation: Invocation, retries: int, checkpoint: Callable[[list[StepOp]], None]) -> None:
        self.invocation = invocation
        self.retries = retries
        self.checkpoint = checkpoint
        self.memo = invocation.memo
        self.pending: list[StepOp] = []
        self.blocked = False  # some step cannot resolve in this pass
        self.fatal: BaseException | None = None  # fails the run even if user code caught it
        self.progress = 0  # bumped by every step call; lets the async driver see when tasks stop moving
        self.executing = 0  # step.run bodies in flight (async functions)
        self.on_activity: Callable[[], None] | None = None  # the async driver's wake-up for step activity
        self.replaying = bool(self.memo)
        self._seen: dict[str, int] = {}
        self._next_position = max((m.position for m in self.memo.values()), default=-1) + 1
        self._new_steps = 0
        self._settled: set[str] = set()  # steps whose attempt ended in this pass (for ctx.attempt)
        self.unsettled = invocation.unsettled  # a shared hop commit is to be settled before any side effect

    # --- identity ---------------------------------------------------------------------------------------

    def step_id(self, base: str) -> str:
        """Reusing an id in one run gets a deterministic suffix: id, id:1, id:2 (S2)."""
        if not isinstance(base, str) or not base:
            raise ValueError("a step needs a non-empty string id")
        count = self._seen.get(base, 0)
        self._seen[base] = count + 1
        self.touch()
        return check_length(base if count == 0 else f"{base}:{count}", MAX_STEP_ID_CHARS, "step id")

    def recorded(self, step_id: str, kind: str, target: str = "") -> StepMemo | None:
        """The memo of a step, after checking the code still asks for the same kind of step (S16)."""
        memo = self.memo.get(step_id)
        if memo is None:
            self.replaying = False
            return None
        if memo.kind != kind or (target and memo.target and memo.target != target):
            was = f"{memo.kind} {memo.target}".strip()
            now_is = f"{kind} {target}".strip()
            self.fail_fatally(NondeterminismError(
                f"step {step_id!r} was recorded as {was} but the code now asks for {now_is}; the function's "
                f"code changed in a way that does not match this run's history. Give the changed step a new "
                f"id, or rerun the run from the start."))
        return memo

    def new_position(self) -> int:
        self._new_steps += 1
        if len(self.memo) + self._new_steps > MAX_STEPS_PER_RUN:
            self.fail_fatally(LimitExceeded(f"a run may have at most {MAX_STEPS_PER_RUN} steps"))
        position = self._next_position
        self._next_position += 1
        return position

    def touch(self) -> None:
        self.progress += 1
        if self.on_activity is not None:
            self.on_activity()

    def fail_fatally(self, exc: BaseException) -> None:
        if self.fatal is None:
            self.fatal = exc
        raise exc

    # --- recording ----------------------------------------------------------------------------------------

    def record(self, op: StepOp) -> None:
        if isinstance(op, StepCompleted | StepFailed):
            self._settled.add(op.step_id)
        self.pending.append(op)

    def block(self) -> None:
        self.blocked = True

    def take_pending(self) -> list[StepOp]:
        ops, self.pending = self.pending, []
        return ops

    def flush(self) -> None:
        """Commit what this pass did so far before a new side effect starts."""
        if self.pending or self.unsettled:
            self.unsettled = False
            try:
                self.checkpoint(self.take_pending())  # (no ops: settles the hop commit this pass shares)
            except (LeaseLost, CommitRefused) as exc:
                raise Aborted(exc) from None

    def step_attempt(self, memo: StepMemo | None) -> int:
        return (memo.attempts if memo else 0) + 1

    def settle_failure(self, step_id: str, kind: str, exc: BaseException, attempt: int, position: int,
                       started_at: datetime, input: Any = None) -> StepError | None:
        """Record a failed step attempt. Returns the StepError to raise if it failed for good, else None."""
        final = isinstance(exc, NonRetriableError) or attempt > self.retries
        error = ErrorRecord.from_exception(exc).to_json()
        retry_at = None if final else retry_time(exc, attempt, self.invocation.retry_base_seconds)
        self.record(StepFailed(step_id=step_id, kind=kind, error=error, attempt=attempt, position=position,
                               retry_at=retry_at, started_at=started_at, ended_at=now(), input=input))
        if final:
            return step_error_from(error, step_id)
        self.block()
        return None

    def attempt_number(self) -> int:
        """ctx.attempt (0-based): failures so far of the step being retried, or of the body.

        Read when asked, not once per pass: once the retried step settles, the steps after it start at
        attempt 0 again (each step has its own budget, S15).
        """
        retrying = [m.attempts for m in self.memo.values()
                    if m.status == "retrying" and m.step_id not in self._settled]
        return max(retrying) if retrying else self.invocation.body_failures
