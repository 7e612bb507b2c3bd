"""A task's TaskResult, read back from its run.

| run                                  | TaskResult.status |
|--------------------------------------|-------------------|
| queued, or waiting for its next try  | READY             |
| held by a worker                     | RUNNING           |
| completed                            | SUCCESSFUL (`return_value` is the run's output) |
| failed, cancelled (or skipped)       | FAILED (`errors` holds the exception's class path and traceback) |
"""

from __future__ import annotations

import builtins
from typing import Any

from runs import exceptions
from runs.exceptions import TributaryError
from runs.status import ACTIVE_RUN_STATUSES, RunStatus
from runs.store.direct import DirectRun
from runs.tasks.compat import Task, TaskError, TaskResult, TaskResultStatus
from runs.tasks.inputs import InvalidTaskInput, TaskInput, as_enqueued, decode

# TaskResult.worker_ids has one entry per attempt; Tributary keeps no record of which worker made an earlier
# attempt, so those entries (and all of them once the run ended) read this.
UNRECORDED_WORKER = "tributary-worker"


class TaskRunCancelled(TributaryError):
    """The task's run was cancelled (by an operator, or a cancel-on rule) before it finished."""


def task_result(run: DirectRun, task: Task) -> TaskResult:
    try:
        given = decode(run.data)
    except InvalidTaskInput:  # an invoke gave it input it could not run with: it failed, and says why
        given = TaskInput(args=[], kwargs={})
    status = _status(run)
    attempts = run.attempts if run.started_at else 0
    workers = [UNRECORDED_WORKER] * attempts
    if workers and run.worker:
        workers[-1] = run.worker
    # A claim stamps started_at with the time it began, which can be a moment before the enqueue committed:
    # a priority head start makes the run due at once (runs/tasks/backend.py, due_at).
    started_at = max(run.started_at, run.created_at) if run.started_at else None
    result: TaskResult[Any, Any] = TaskResult(
        task=as_enqueued(task, given), id=run.id, status=status, enqueued_at=run.created_at,
        started_at=started_at, finished_at=run.ended_at, last_attempted_at=started_at,
        args=given.args, kwargs=given.kwargs, backend=given.backend or task.backend, errors=_errors(run),
        worker_ids=workers)
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", run.output)  # frozen, and not an init field
    return result


def _status(run: DirectRun) -> TaskResultStatus:
    if run.status == RunStatus.COMPLETED:
        return TaskResultStatus.SUCCESSFUL
    if run.status not in ACTIVE_RUN_STATUSES:
        return TaskResultStatus.FAILED
    return TaskResultStatus.RUNNING if run.held else TaskResultStatus.READY


def _errors(run: DirectRun) -> list[TaskError]:
    if run.error:
        return [task_error(run.error)]
    if run.status == RunStatus.CANCELLED:
        return [TaskError(exception_class_path=_path(TaskRunCancelled),
                          traceback=f"{TaskRunCancelled.__name__}: {run.status_reason or 'cancelled'}\n")]
    return []


def task_error(error: dict[str, Any]) -> TaskError:
    """The framework's TaskError for a stored error: its class path (errors the engine itself recorded name
    only a class of runs.exceptions or a built-in one) and its stack, or its message if it has none."""
    kind = str(error.get("type") or "")
    path = error.get("class_path") or next(
        (_path(found) for found in (getattr(exceptions, kind, None), getattr(builtins, kind, None))
         if isinstance(found, type) and issubclass(found, BaseException)), _path(Exception))
    text = error.get("stack") or f"{error.get('name') or kind}: {error.get('message', '')}\n"
    return TaskError(exception_class_path=str(path), traceback=str(text))


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
