"""A task executing as the body of a Tributary run: one attempt per pass (a task has no steps).

The handler reads the task's arguments from the run's input, passes a TaskContext when the task takes one,
sends the framework's task_started/task_finished signals, and returns the task's value normalised as the
framework does. An exception is the run's failure: retried as the backend's `retries` option says, then
FAILED with the exception's class path and traceback (runs/tasks/results.py reads them back).
"""

from __future__ import annotations

import os
import socket
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from inspect import iscoroutinefunction
from typing import Any

from django.utils import timezone

from runs.exceptions import NonRetriableError
from runs.sdk import Context
from runs.tasks.compat import (
    Task,
    TaskContext,
    TaskError,
    TaskResult,
    TaskResultStatus,
    normalize_json,
    task_finished,
    task_started,
)
from runs.tasks.inputs import as_enqueued, decode

# This process, as TaskResult.worker_ids names the worker of the attempt in progress.
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def handler_for(task: Task, retries: int) -> Callable[[Context[Any]], Any]:
    """The function body that runs `task`: `async def` for a coroutine task (awaited on the worker's loop),
    plain `def` otherwise (called in the worker thread, where the ORM works as in any sync code)."""
    if iscoroutinefunction(task.func):
        async def run_async_task(ctx: Context[Any]) -> Any:
            attempt = _Attempt(task, ctx, retries)
            args, kwargs = attempt.call_arguments()
            try:
                value = await attempt.task.acall(*args, **kwargs)
                return attempt.succeeded(value)
            except Exception as exc:
                attempt.failed(exc)
                raise

        return run_async_task

    def run_task(ctx: Context[Any]) -> Any:
        attempt = _Attempt(task, ctx, retries)
        args, kwargs = attempt.call_arguments()
        try:
            return attempt.succeeded(attempt.task.call(*args, **kwargs))
        except Exception as exc:
            attempt.failed(exc)
            raise

    return run_task


class _Attempt:
    """One attempt of a task: its TaskResult as the task and signal receivers see it while it runs."""

    def __init__(self, task: Task, ctx: Context[Any], retries: int) -> None:
        given = decode(ctx.event.data)
        self.task = as_enqueued(task, given)
        self.args, self.kwargs = given.args, given.kwargs
        self.retries = retries
        self.number = ctx.attempt  # 0-based: failures of this run's body so far
        now = timezone.now()
        self.result: TaskResult[Any, Any] = TaskResult(
            task=self.task, id=ctx.run_id, status=TaskResultStatus.RUNNING,
            enqueued_at=datetime.fromtimestamp(ctx.event.ts / 1000, UTC) if ctx.event.ts else None,
            started_at=now, finished_at=None, last_attempted_at=now, args=self.args, kwargs=self.kwargs,
            backend=self.task.backend, errors=[], worker_ids=[WORKER_ID] * (self.number + 1))
        self.sender = type(self.task.get_backend())
        task_started.send(sender=self.sender, task_result=self.result)

    def call_arguments(self) -> tuple[list[Any], dict[str, Any]]:
        if self.task.takes_context:
            return [TaskContext(task_result=self.result), *self.args], self.kwargs
        return list(self.args), self.kwargs

    def succeeded(self, value: Any) -> Any:
        value = normalize_json(value)  # as the framework's backends do: a tuple becomes a list
        self._set(status=TaskResultStatus.SUCCESSFUL, finished_at=timezone.now(), _return_value=value)
        task_finished.send(sender=self.sender, task_result=self.result)
        return value

    def failed(self, exc: Exception) -> None:
        """Called inside the `except` block, so receivers that log with logger.exception get the traceback."""
        if self.number < self.retries and not isinstance(exc, NonRetriableError):
            return  # another attempt follows: the task has not finished
        self.result.errors.append(TaskError(exception_class_path=f"{type(exc).__module__}.{type(exc).__qualname__}",
                                            traceback=_traceback(exc)))
        self._set(status=TaskResultStatus.FAILED, finished_at=timezone.now())
        task_finished.send(sender=self.sender, task_result=self.result)

    def _set(self, **fields: Any) -> None:
        for name, value in fields.items():
            object.__setattr__(self.result, name, value)  # TaskResult is frozen; the framework does the same


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
