"""What a function receives: its event, run id, attempt, steps and a logger."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from runs.sdk.protocol import RunningPass

StepT = TypeVar("StepT")


@dataclass(frozen=True, slots=True, kw_only=True)
class EventData:
    """The event that started the run (for an invoked run: the invoke's data and user)."""

    id: str
    name: str
    data: dict[str, Any]
    user: dict[str, Any]
    ts: int


class _ReplayQuietLogger(logging.LoggerAdapter):
    """Drops log lines while the function replays memoised steps, so each line is logged once per run."""

    def __init__(self, logger: logging.Logger, state: RunningPass) -> None:
        super().__init__(logger, {})
        self._state = state

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self._state.replaying:
            super().log(level, msg, *args, **kwargs)


@dataclass(frozen=True, slots=True, kw_only=True)
class Context(Generic[StepT]):
    """What a function receives: the event that started the run, the run's id, the step API (`ctx.step`), a
    logger that is quiet while the run replays, and `ctx.attempt` (0-based) of the step or body being retried."""
    event: EventData
    run_id: str
    step: StepT
    logger: logging.LoggerAdapter
    _attempt: Callable[[], int] = field(repr=False, compare=False)

    @property
    def attempt(self) -> int:
        """0-based attempt of the step being retried (or of the body); steps after it start at 0 (S15)."""
        return self._attempt()


def make_context(state: RunningPass, step: Any) -> Context[Any]:
    """The Context of one pass (the engine builds it for the driver)."""
    invocation = state.invocation
    event = invocation.event
    return Context(
        event=EventData(id=event["id"], name=event["name"], data=event.get("data") or {},
                        user=event.get("user") or {}, ts=event.get("ts", 0)),
        run_id=invocation.run_id,
        _attempt=state.attempt_number,
        step=step,
        logger=_ReplayQuietLogger(logging.getLogger(f"runs.functions.{invocation.function_id}"), state),
    )
