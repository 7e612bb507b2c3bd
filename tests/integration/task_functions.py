"""Tasks of the Django Tasks backend tests (tests/integration/test_tasks_backend.py), at module level so that a
worker imports them by their module path; and a function that invokes one."""

from __future__ import annotations

from typing import Any

from runs.sdk import App, Context
from runs.tasks import task_function
from runs.tasks.compat import TaskContext

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task  # type: ignore[no-redef]


class TaskFailure(Exception):
    """What `fail` raises: a class of this module, so a result must name it by its module path."""


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def pair(value: Any) -> tuple[Any, Any]:
    return value, value  # the framework normalises a tuple to a list


@task
def fail(message: str) -> None:
    raise TaskFailure(message)


@task
def label(name: str) -> str:
    return name


@task
async def double(n: int) -> int:
    return n * 2


@task(takes_context=True)
def introspect(context: TaskContext, x: int) -> dict[str, Any]:
    return {"id": context.task_result.id, "attempt": context.attempt, "x": x,
            "status": str(context.task_result.status)}


FLAKY_FAILURES: dict[str, int] = {}


@task(backend="durable", takes_context=True)
def flaky(context: TaskContext, key: str, failures: int) -> int:
    """Fails its first `failures` attempts (counted in this process: the in-process worker's)."""
    seen = FLAKY_FAILURES.get(key, 0)
    if seen < failures:
        FLAKY_FAILURES[key] = seen + 1
        raise TaskFailure(f"attempt {context.attempt} of {key} fails")
    return context.attempt


app = App("tasks-tests")
ADD = task_function(add)
FAIL = task_function(fail)


@app.function(id="sum-by-task", trigger="tasks-tests/sum", retries=0)
async def sum_by_task(ctx: Context) -> Any:
    return await ctx.step.invoke("add", function=ADD, data={"args": ctx.event.data["numbers"]})


@app.function(id="fail-by-task", trigger="tasks-tests/fail", retries=0)
def fail_by_task(ctx: Context) -> Any:
    try:
        return ctx.step.invoke("fail", function=FAIL, data={"kwargs": {"message": "from a step"}})
    except Exception as exc:
        return {"caught": type(exc).__name__, "text": str(exc)}


def _plain(value: Any) -> Any:
    return value


# A task whose module path names the plain function, not the task: no worker could find it, so enqueue refuses.
hidden = task(_plain)


@app.function(id="bad-input-by-task", trigger="tasks-tests/bad-input", retries=0)
def bad_input_by_task(ctx: Context) -> Any:
    try:
        return ctx.step.invoke("add", function=ADD, data={"arguments": [1, 2]})
    except Exception as exc:
        return {"caught": type(exc).__name__, "text": str(exc)}
