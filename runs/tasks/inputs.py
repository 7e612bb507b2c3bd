"""What a task's run carries as its input, and finding a task again by its module path.

A run of a task stores its arguments and the options it was enqueued with as its event data:
`{"args": [...], "kwargs": {...}, "priority": 0, "queue_name": "default", "backend": "default",
"run_after": "<ISO date-time>" | None}`. An invoke (`ctx.step.invoke(..., function=task_function(t))`) gives
`args` and `kwargs` only; the task's own options fill in the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.module_loading import import_string

from runs.exceptions import NonRetriableError
from runs.sdk.values import json_roundtrip
from runs.tasks.compat import InvalidTask, Task, normalize_json

logger = logging.getLogger("runs.tasks")

KEYS = ("args", "kwargs", "priority", "queue_name", "backend", "run_after")


class InvalidTaskInput(NonRetriableError, ValueError):
    """A task's run was given input that is not `{"args": [...], "kwargs": {...}}` (e.g. an invoke's `data`);
    it fails at once, without retries."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskInput:
    args: list[Any]
    kwargs: dict[str, Any]
    priority: int | None = None
    queue_name: str | None = None
    backend: str | None = None
    run_after: datetime | None = None


def encode(task: Task, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The run's input for `task(*args, **kwargs)`: JSON, as the framework normalises arguments (tuples become
    lists; a value JSON cannot hold is a TypeError), within the engine's size and depth limits."""
    payload = {"args": normalize_json(list(args)), "kwargs": normalize_json(dict(kwargs)),
               "priority": task.priority, "queue_name": task.queue_name, "backend": task.backend,
               "run_after": task.run_after.isoformat() if task.run_after else None}
    return json_roundtrip(payload, f"the arguments of task {task.module_path}")


def decode(data: Mapping[str, Any]) -> TaskInput:
    """The input of a task's run; InvalidTaskInput names what is wrong with it."""
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise InvalidTaskInput(f"a task's input takes {', '.join(KEYS)}; not {', '.join(map(repr, unknown))}")
    args = data.get("args", [])
    kwargs = data.get("kwargs", {})
    if not isinstance(args, list):
        raise InvalidTaskInput(f"a task's 'args' must be a list, not {type(args).__name__}")
    if not isinstance(kwargs, dict):
        raise InvalidTaskInput(f"a task's 'kwargs' must be an object, not {type(kwargs).__name__}")
    run_after = data.get("run_after")
    return TaskInput(args=args, kwargs=kwargs, priority=data.get("priority"), queue_name=data.get("queue_name"),
                     backend=data.get("backend"), run_after=parse_datetime(run_after) if run_after else None)


def as_enqueued(task: Task, given: TaskInput) -> Task:
    """`task` with the options its run was enqueued with; the task itself where they no longer validate
    (its backend's QUEUES changed since, say)."""
    try:
        return task.using(priority=given.priority, queue_name=given.queue_name, run_after=given.run_after,
                          backend=given.backend)
    except InvalidTask:
        return task


def import_task(path: str) -> Task | None:
    """The task a module path names, as a worker finds it (the framework's own backends import tasks by path
    too); None if the path names no task. A module that fails to import is logged."""
    if not isinstance(path, str) or "." not in path:
        return None
    try:
        found = import_string(path)
    except ImportError:
        return None
    except Exception:
        logger.exception("importing task %s failed", path)
        return None
    return found if isinstance(found, Task) else None
