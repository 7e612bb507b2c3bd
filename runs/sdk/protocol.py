"""What `ctx.step` needs from the pass that runs it: the SDK's side of the seam with the engine.

The SDK defines this protocol and the engine implements it (runs/engine/passes.py `PassState`), so the step API
never imports the engine or the store: a step asks the running pass for its memo, records op records
(runs/ops.py) and tells it when it cannot resolve in this pass. (inngest-py separates its step tools from its
execution engine the same way.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from runs.exceptions import StepError
from runs.ops import StepMemo, StepOp


class Blocked(BaseException):
    """Unwinds a sync function at a step that cannot resolve in this pass.

    A BaseException, so that a user's `except Exception` cannot swallow it.
    """


class RunInvocation(Protocol):
    """The run a pass executes, as steps and the context see it."""

    @property
    def run_id(self) -> str: ...
    @property
    def app_id(self) -> str: ...
    @property
    def function_id(self) -> str: ...
    @property
    def event(self) -> dict[str, Any]: ...


class RunningPass(Protocol):
    """One execution pass of a function, as its steps drive it."""

    executing: int  # step.run bodies in flight (the async driver waits while any is)

    @property
    def invocation(self) -> RunInvocation: ...
    @property
    def replaying(self) -> bool:
        """True while the function is still replaying memoised steps (the context's logger stays quiet)."""

    def step_id(self, base: str) -> str:
        """The step's id in this run: `base`, or `base:N` when the id was used before (S2)."""

    def recorded(self, step_id: str, kind: str, target: str = "") -> StepMemo | None:
        """The step's memo if it was recorded, after checking it is the same kind of step (S16)."""

    def new_position(self) -> int:
        """The position of a step recorded for the first time (and the per-run step limit)."""

    def step_attempt(self, memo: StepMemo | None) -> int:
        """The 1-based attempt a step's next execution is."""

    def record(self, op: StepOp) -> None:
        """Keep what a step did, to be committed before the next side effect (or at the pass's end)."""

    def block(self) -> None:
        """Some step cannot resolve in this pass: the pass ends once every task is parked."""

    def touch(self) -> None:
        """A step moved: the async driver looks at its tasks again."""

    def flush(self) -> None:
        """Commit what was recorded so far; a step calls it before its side effect starts."""

    def settle_failure(self, step_id: str, kind: str, exc: BaseException, attempt: int, position: int,
                       started_at: datetime, input: Any = None) -> StepError | None:
        """Record a failed attempt; the StepError to raise if it failed for good, else None (retry later)."""

    def attempt_number(self) -> int:
        """`ctx.attempt`: failures so far of the step being retried, or of the body."""
