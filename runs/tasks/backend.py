"""`runs.tasks.TributaryBackend`: a Django Tasks backend whose every enqueued task is a durable Tributary run.

Each task is a function of the "django-tasks" app, named by the task's module path. Enqueueing starts a run
of it (due at `run_after`, claimed in priority order); a worker that meets such a run imports the task by
its path, as the framework's own backends do, so a worker needs no list of tasks. The run shows in the
dashboard like any other, and a function can invoke a task with `task_function(task)`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from runs.limits import MAX_NAME_CHARS
from runs.sdk.app import App, FunctionDef
from runs.store.direct import read_run, start_run
from runs.tasks.compat import (
    TASK_MIN_PRIORITY,
    BaseTaskBackend,
    InvalidTask,
    Task,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_enqueued,
)
from runs.tasks.execution import handler_for
from runs.tasks.inputs import encode, import_task
from runs.tasks.results import task_result

TASKS_APP_ID = "django-tasks"
TASK_ENQUEUED = "django/task.enqueued"  # the event name a task's run carries
DEFAULT_OPTIONS: dict[str, Any] = {
    "retries": 0,  # failed attempts retried, with backoff, before the task is FAILED (the framework: none)
    "priority_seconds": 0.1,  # how much earlier each priority point makes a task due (see due_at)
}


class TributaryBackend(BaseTaskBackend):
    """Django Tasks backend: `TASKS = {"default": {"BACKEND": "runs.tasks.TributaryBackend"}}`.

    OPTIONS: `retries` (default 0) and `priority_seconds` (default 0.1); QUEUES as the framework defines it
    (queue names are checked and kept with each result; every worker serves every queue)."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        unknown = sorted(set(self.options) - set(DEFAULT_OPTIONS))
        if unknown:
            raise ImproperlyConfigured(f"TASKS[{alias!r}]['OPTIONS']: unknown option(s) {', '.join(unknown)}; "
                                       f"TributaryBackend takes {', '.join(DEFAULT_OPTIONS)}")
        options = {**DEFAULT_OPTIONS, **self.options}
        retries, step = options["retries"], options["priority_seconds"]
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ImproperlyConfigured(f"TASKS[{alias!r}]['OPTIONS']['retries'] must be an int >= 0, not {retries!r}")
        if not isinstance(step, int | float) or isinstance(step, bool) or not 0 <= step <= 3600:
            raise ImproperlyConfigured(f"TASKS[{alias!r}]['OPTIONS']['priority_seconds'] must be a number of "
                                       f"seconds from 0 to 3600, not {step!r}")
        self.retries: int = retries
        self.priority_seconds = float(step)

    def enqueue(self, task: Task, args: Sequence[Any], kwargs: Mapping[str, Any]) -> TaskResult:
        """Start the task's run; its TaskResult is READY. In a transaction, the run starts when it commits."""
        self.validate_task(task)
        function = task_function(task)
        data = encode(task, args, kwargs)
        run = start_run(app_id=TASKS_APP_ID, function_id=function.function_id, config=function.config(),
                        event_name=TASK_ENQUEUED, data=data, ready_at=self.due_at(task))
        result: TaskResult[Any, Any] = TaskResult(task=task, id=run.id, status=TaskResultStatus.READY, enqueued_at=run.created_at,
                            started_at=None, finished_at=None, last_attempted_at=None, args=data["args"],
                            kwargs=data["kwargs"], backend=self.alias, errors=[], worker_ids=[])
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult:
        """The task's result as its run stands now; TaskResultDoesNotExist if no task run has that id."""
        run = read_run(result_id, TASKS_APP_ID)
        if run is None:
            raise TaskResultDoesNotExist(f"no task result with id {str(result_id)[:64]!r}")
        task = import_task(run.function_id)
        if task is None:
            raise TaskResultDoesNotExist(f"task result {run.id} is of task {run.function_id}, which this process "
                                         f"cannot import")
        return task_result(run, task)

    def due_at(self, task: Task) -> datetime:
        """When the task's run is due. Workers claim due runs oldest `ready_at` first, so priority p gives a
        head start of (p + 100) × priority_seconds: among tasks enqueued within 200 × priority_seconds
        (20 s by default) of each other, a higher priority runs first, and no task waits behind later ones
        for longer than that (nothing starves). A task never becomes due before its `run_after`."""
        now = timezone.now()
        head_start = timedelta(seconds=(task.priority - TASK_MIN_PRIORITY) * self.priority_seconds)
        if task.run_after is None:
            return now - head_start
        return max(max(now, task.run_after) - head_start, task.run_after)


class TaskApp(App):
    """The "django-tasks" app: its functions are tasks, each named by its module path. A worker that claims a
    run of a task it has not met yet imports the task by that path."""

    def find(self, function_id: str) -> FunctionDef | None:
        """A task function by its module path, imported on first use (as Django's own backends do)."""
        found = super().find(function_id)
        if found is None:
            task = import_task(function_id)
            if task is not None and isinstance(_backend_of(task), TributaryBackend):
                found = task_function(task)
        return found


tasks_app = TaskApp(TASKS_APP_ID)


def task_function(task: Task) -> FunctionDef:
    """The Tributary function that runs `task`, e.g. to invoke it from a function:
    `await ctx.step.invoke("resize", function=task_function(resize), data={"args": [...], "kwargs": {...}})`
    returns what the task returns. Call it where you define functions (module level), so that a worker
    registers it when it starts."""
    if not isinstance(task, Task):
        raise TypeError(f"task_function takes a task (a function decorated with @task), not {type(task).__name__}")
    path = task.module_path
    known = tasks_app.functions.get(path)
    if known is not None:
        return known
    backend = _backend_of(task)
    if not isinstance(backend, TributaryBackend):
        raise InvalidTask(f"task {path} uses backend {task.backend!r} ({type(backend).__name__}), not "
                          f"runs.tasks.TributaryBackend")
    if len(path) > MAX_NAME_CHARS:
        raise InvalidTask(f"task {path[:40]}... has a module path longer than {MAX_NAME_CHARS} characters")
    found = import_task(path)
    if found is None or found.func is not task.func:
        raise InvalidTask(f"task {path} cannot be imported by its module path, so no worker could find it; "
                          f"define it at the top level of an importable module")
    return tasks_app.function(id=path, retries=backend.retries)(handler_for(task, backend.retries))


def _backend_of(task: Task) -> BaseTaskBackend | None:
    try:
        return task.get_backend()
    except ImproperlyConfigured:  # InvalidTaskBackend: the alias is no longer in TASKS
        return None
