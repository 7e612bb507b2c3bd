"""The one error record: what a failed step, a failed run or an invoke's failure stores and shows.

Every stored error is built here, from an exception (`ErrorRecord.from_exception`) or for a failure the engine
or the store decides on itself (`ErrorRecord.raised_as`, `child_failed`, `cancelled_step`). Its JSON form keeps
the keys stored before this record existed (`name`, `message`, `stack`, `type`, `run_id`), so old rows read
back unchanged, and adds `class_path` and `step_id`.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, replace
from typing import Any

from runs.exceptions import STEP_ERROR_CLASSES, StepError
from runs.limits import MAX_ERROR_MESSAGE_CHARS, MAX_ERROR_STACK_CHARS, MAX_NAME_CHARS, shortened
from runs.values import storable_text


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorRecord:
    """A failure as stored: readable (name, message, stack) and re-raisable on replay (type, cause ids)."""

    name: str  # what operators see: the exception's class name, or the name a StepError carries on
    message: str
    stack: str | None = None
    type_name: str = ""  # stored as "type": the class replay raises, a StepError subclass by that name, or StepError
    class_path: str | None = None  # module.QualName of the exception that was raised, when there was one
    run_id: str | None = None  # the run whose failure this is, when not the run it is stored on (an invoke)
    step_id: str | None = None  # the step that failed for good, when the error came out of one

    @classmethod
    def from_exception(cls, exc: BaseException, *, with_stack: bool = True) -> ErrorRecord:
        """The record of a raised exception; a StepError keeps the name, stack and cause it carries."""
        class_path = _path(type(exc))
        if isinstance(exc, StepError):
            return cls(name=_bounded(exc.name, MAX_NAME_CHARS), message=_bounded(exc.message, MAX_ERROR_MESSAGE_CHARS),
                       stack=_bounded(exc.stack, MAX_ERROR_STACK_CHARS) if with_stack and exc.stack else None,
                       type_name=type(exc).__name__, class_path=class_path, run_id=exc.run_id, step_id=exc.step_id)
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) if with_stack else None
        return cls(name=_bounded(type(exc).__name__, MAX_NAME_CHARS), message=_bounded(str(exc), MAX_ERROR_MESSAGE_CHARS),
                   stack=_bounded(stack, MAX_ERROR_STACK_CHARS) if stack is not None else None,
                   type_name=type(exc).__name__, class_path=class_path)

    @classmethod
    def raised_as(cls, error_class: type[StepError], message: str, *, run_id: str | None = None,
                  name: str | None = None) -> ErrorRecord:
        """A failure the engine or the store decides on (a timeout, a missing function, a rate-limited child):
        stored as if `error_class` had been raised, without a stack."""
        return cls(name=name or error_class.__name__, message=message, type_name=error_class.__name__,
                   class_path=_path(error_class), run_id=run_id)

    @classmethod
    def child_failed(cls, child_error: dict[str, Any] | None, child_run_id: str) -> ErrorRecord:
        """What an invoke step stores when its child run failed: the child's error, raised as a StepError."""
        child = cls.from_json(child_error)
        return replace(child, type_name=StepError.__name__, class_path=_path(StepError), run_id=child_run_id,
                       step_id=None)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ErrorRecord:
        """Read a stored error back (any row, old or new); missing keys take their defaults."""
        data = data or {}
        name = data.get("name") or "Error"
        return cls(name=name, message=data.get("message") or "", stack=data.get("stack"),
                   type_name=data.get("type") or "", class_path=data.get("class_path"), run_id=data.get("run_id"),
                   step_id=data.get("step_id"))

    def to_json(self) -> dict[str, Any]:
        """The stored JSON form (the keys runs and steps have always stored, plus class path and step id)."""
        return {"name": self.name, "message": self.message, "stack": self.stack, "type": self.type_name,
                "class_path": self.class_path, "run_id": self.run_id, "step_id": self.step_id}

    def as_step_error(self, step_id: str) -> StepError:
        """The StepError a failed step raises in the function on replay."""
        error_class = STEP_ERROR_CLASSES.get(self.type_name, StepError)
        return error_class(self.message, name=self.name, stack=self.stack, run_id=self.run_id, step_id=step_id)


def _bounded(text: str, limit: int) -> str:
    """Text every column takes, cut to `limit` with a note (an error's name is kept in a name column; its message
    and stack are stored on every attempt and shown on the run page)."""
    return shortened(storable_text(str(text)), limit)


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def error_dict(exc: BaseException) -> dict[str, Any]:
    """The stored (JSON) form of an exception: `ErrorRecord.from_exception(exc).to_json()`."""
    return ErrorRecord.from_exception(exc).to_json()


def step_error_from(stored: dict[str, Any] | None, step_id: str) -> StepError:
    """Rebuild the StepError a failed step raises in the function on replay, from its stored error."""
    return ErrorRecord.from_json(stored).as_step_error(step_id)
