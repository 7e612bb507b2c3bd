"""The Django Tasks backend (runs/tasks, docs/tasks.md): each behaviour the framework documents for a backend
(enqueue, results, exceptions, priority, run_after, aenqueue, context, signals, validation) against a real
worker, and what Tributary adds: retries, invoking a task from a function, the run in the dashboard, and a
`manage.py worker` process that finds tasks by their module path."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone

from runs import client as runs_client
from runs import testing
from runs.exceptions import SerializationError
from runs.models import Run
from runs.status import RunStatus
from runs.tasks import TASKS_APP_ID, InvalidTaskInput, TaskRunCancelled, TributaryBackend
from runs.tasks.compat import (
    InvalidTask,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_enqueued,
    task_finished,
    task_started,
)
from runs.testing import wait_for_run
from tests.helpers import run_for, wait_until
from tests.integration import task_functions as tasks
from tests.integration.processes import worker_fleet

try:
    from django.tasks import default_task_backend, task
    from django.tasks.exceptions import TaskResultMismatch
except ImportError:  # Django 5.2: the backport
    from django_tasks import default_task_backend, task  # type: ignore[no-redef]
    from django_tasks.exceptions import TaskResultMismatch  # type: ignore[no-redef]

FINISHED = {TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED}


def finished(result: TaskResult, timeout: float = 10) -> TaskResult:
    """`result`, refreshed until its task has finished."""

    def read() -> TaskResultStatus:
        result.refresh()
        return result.status

    wait_until(read, lambda status: status in FINISHED, timeout, f"task result {result.id}")
    return result


# --- enqueue and results ---------------------------------------------------------------------------------


def test_enqueue_starts_a_run_whose_result_reads_back(worker: Any) -> None:
    result = tasks.add.enqueue(2, 3)
    assert result.status == TaskResultStatus.READY and not result.is_finished
    assert (result.args, result.kwargs, result.backend) == ([2, 3], {}, "default")
    assert result.enqueued_at is not None and result.attempts == 0

    finished(result)
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 5
    assert result.enqueued_at <= result.started_at <= result.finished_at
    assert result.attempts == 1 and result.errors == []

    again = tasks.add.get_result(result.id)  # through the task, and through the backend
    assert (again.status, again.return_value, again.args) == (TaskResultStatus.SUCCESSFUL, 5, [2, 3])
    assert default_task_backend.get_result(result.id).return_value == 5
    with pytest.raises(TaskResultMismatch):
        tasks.label.get_result(result.id)

    run = runs_client.get_run(result.id)  # the result is a Tributary run of the task's function
    assert (run.app_id, run.function_id, run.status, run.output) == (
        TASKS_APP_ID, "tests.integration.task_functions.add", RunStatus.COMPLETED, 5)


def test_results_are_json_as_the_framework_normalises_them(worker: Any) -> None:
    result = finished(tasks.pair.enqueue(("a", 1)))
    assert result.args == [["a", 1]]
    assert result.return_value == [["a", 1], ["a", 1]]


def test_an_unknown_result_id_does_not_exist(db: None) -> None:
    plain = Run.objects.create(id="PLAINRUN", app_id="some-app", function_id="f", event_id="e", event_name="x",
                               event_ts=0, root_run_id="PLAINRUN", created_at=timezone.now())
    for result_id in ["0" * 26, "", "x" * 100, "a\x00b", "\ud800", plain.id]:
        with pytest.raises(TaskResultDoesNotExist):
            default_task_backend.get_result(result_id)


# --- exceptions, retries, cancellation ---------------------------------------------------------------------


def test_an_exception_fails_the_task_with_its_class_path_and_traceback(worker: Any) -> None:
    result = finished(tasks.fail.enqueue("boom"))
    assert result.status == TaskResultStatus.FAILED and result.attempts == 1  # no retries by default
    [error] = result.errors
    assert error.exception_class_path == "tests.integration.task_functions.TaskFailure"
    assert error.exception_class is tasks.TaskFailure
    assert "raise TaskFailure(message)" in error.traceback and "TaskFailure: boom" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        result.return_value  # noqa: B018


def test_the_retries_option_retries_failed_attempts(worker: Any) -> None:
    recovers = finished(tasks.flaky.enqueue("recovers", 2))
    assert recovers.status == TaskResultStatus.SUCCESSFUL
    assert recovers.return_value == 3 and recovers.attempts == 3  # the context saw its third attempt

    gives_up = finished(tasks.flaky.enqueue("gives-up", 5))
    assert gives_up.status == TaskResultStatus.FAILED and gives_up.attempts == 3  # retries: 2
    assert gives_up.errors[0].exception_class is tasks.TaskFailure
    assert "attempt 3 of gives-up fails" in gives_up.errors[0].traceback


def test_a_cancelled_task_is_failed(db: None) -> None:
    result = tasks.label.using(run_after=timezone.now() + timedelta(hours=1)).enqueue("never")
    runs_client.cancel_run(result.id)
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is TaskRunCancelled


# --- priority and run_after -----------------------------------------------------------------------------------


def test_higher_priority_runs_first(transactional_db: None, fast_retries: Any) -> None:
    fast_retries.RUNS_CLAIM_BATCH = 1  # one claim at a time, so claims follow the order of due runs
    results = [tasks.label.using(priority=-50).enqueue("low"), tasks.label.enqueue("default"),
               tasks.label.using(priority=50).enqueue("high")]
    with testing.worker(threads=1):
        for result in results:
            finished(result)
    in_order = sorted(results, key=lambda result: result.started_at or timezone.now())
    assert [result.return_value for result in in_order] == ["high", "default", "low"]


def test_run_after_defers_the_task(worker: Any) -> None:
    when = timezone.now() + timedelta(seconds=1.5)
    result = tasks.label.using(run_after=when).enqueue("later")
    result.refresh()
    assert result.status == TaskResultStatus.READY
    finished(result)
    assert result.status == TaskResultStatus.SUCCESSFUL and result.started_at >= when

    past = finished(tasks.label.using(run_after=timezone.now() - timedelta(hours=1)).enqueue("at once"))
    assert past.return_value == "at once"


# --- async, context, signals -------------------------------------------------------------------------------------


def test_aenqueue_and_an_async_task(worker: Any) -> None:
    async def scenario() -> tuple[TaskResult, TaskResult]:
        result = await tasks.double.aenqueue(21)
        deadline = time.monotonic() + 10
        while result.status not in FINISHED and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            await result.arefresh()
        return result, await tasks.double.aget_result(result.id)

    result, fetched = async_to_sync(scenario)()
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 42
    assert fetched.return_value == 42 and fetched.id == result.id


def test_a_task_that_takes_context_sees_its_result(worker: Any) -> None:
    result = finished(tasks.introspect.enqueue(x=7))
    assert result.kwargs == {"x": 7}
    assert result.return_value == {"id": result.id, "attempt": 1, "x": 7, "status": "RUNNING"}


def test_the_framework_signals_are_sent(worker: Any) -> None:
    seen: list[tuple[str, str, str]] = []

    def receiver(name: str) -> Any:
        def record(sender: Any, task_result: TaskResult, **kwargs: Any) -> None:
            seen.append((name, task_result.id, str(task_result.status)))
        return record

    receivers = {signal: receiver(name) for signal, name in
                 ((task_enqueued, "enqueued"), (task_started, "started"), (task_finished, "finished"))}
    for signal, record in receivers.items():
        signal.connect(record)
    try:
        result = finished(tasks.add.enqueue(1, 1))
        mine = lambda: [(name, status) for name, result_id, status in seen if result_id == result.id]  # noqa: E731
        wait_until(mine, lambda events: len(events) == 3, what="three signals")
        assert mine() == [("enqueued", "READY"), ("started", "RUNNING"), ("finished", "SUCCESSFUL")]
    finally:
        for signal, record in receivers.items():
            signal.disconnect(record)


# --- validation: a typed error, nothing stored --------------------------------------------------------------


def test_invalid_tasks_and_arguments_are_refused_and_store_nothing(db: None) -> None:
    with pytest.raises(InvalidTask, match="aware"):
        tasks.label.using(run_after=datetime(2030, 1, 1))  # naive, with USE_TZ
    with pytest.raises(InvalidTask, match="priority"):
        tasks.label.using(priority=101)
    with pytest.raises(InvalidTask, match="Queue"):
        tasks.label.using(queue_name="elsewhere")
    with pytest.raises(InvalidTask, match="module level"):
        task(lambda: None)
    with pytest.raises(InvalidTask, match="cannot be imported by its module path"):
        tasks.hidden.enqueue(1)
    with pytest.raises(TypeError):
        tasks.add.enqueue(object(), 1)
    with pytest.raises(SerializationError):
        tasks.add.enqueue(float("nan"), 1)
    assert not Run.objects.exists()


@pytest.mark.parametrize("options", [{"retries": -1}, {"retries": "2"}, {"priority_seconds": -1},
                                     {"priority_seconds": True}, {"retry": 2}])
def test_bad_backend_options_are_improperly_configured(options: dict[str, Any]) -> None:
    with pytest.raises(ImproperlyConfigured):
        TributaryBackend("broken", {"BACKEND": "runs.tasks.TributaryBackend", "OPTIONS": options})


# --- Tributary: invoke, dashboard, worker processes ------------------------------------------------------------


def test_a_function_invokes_a_task(worker: Any) -> None:
    parent = wait_for_run(run_for("tasks-tests/sum", {"numbers": [2, 3]}).id)
    assert parent.status == RunStatus.COMPLETED and parent.output == 5
    child_id = parent.steps[0].child_run_id
    assert child_id and tasks.add.get_result(child_id).return_value == 5  # the invoked run is a task result too

    failing = wait_for_run(run_for("tasks-tests/fail").id)
    assert failing.output["caught"] == "StepError" and "from a step" in failing.output["text"]

    misnamed = wait_for_run(run_for("tasks-tests/bad-input").id)  # data must be {"args": ..., "kwargs": ...}
    assert misnamed.output["caught"] == "StepError" and "not 'arguments'" in misnamed.output["text"]
    child = tasks.add.get_result(misnamed.steps[0].child_run_id)
    assert child.status == TaskResultStatus.FAILED and child.errors[0].exception_class is InvalidTaskInput
    assert child.attempts == 1  # an input it cannot run with is not retried


def test_a_task_run_shows_in_the_dashboard(worker: Any, client: Client) -> None:
    client.force_login(get_user_model().objects.create_user("operator", password="pw"))
    result = finished(tasks.add.enqueue(1, 2))
    listed = client.get("/api/runs", {"app": TASKS_APP_ID}).json()["runs"]
    assert [(run["id"], run["function_id"], run["status"]) for run in listed] == [
        (result.id, "tests.integration.task_functions.add", RunStatus.COMPLETED)]
    graph = client.get(f"/api/runs/{result.id}/graph").json()
    assert [node["id"] for node in graph["nodes"]] == [result.id]
    functions = client.get("/api/functions").json()["functions"]
    assert any(row["function_id"] == "tests.integration.task_functions.add" for row in functions)
    assert client.get(f"/runs/{result.id}/").status_code == 200


def test_a_worker_process_finds_tasks_by_their_module_path(transactional_db: None, tmp_path: Path) -> None:
    result = tasks.add.enqueue(4, 5)
    with worker_fleet(tmp_path, []) as fleet:
        process = fleet.start()
        process.wait_ready()
        assert TASKS_APP_ID in process.log()  # runs/functions.py registered the app: TASKS names the backend
        finished(result, timeout=30)
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 9


def test_a_failed_task_retried_by_an_operator_runs_again_under_its_id(worker: Any) -> None:
    result = finished(tasks.flaky.enqueue("operator-retry", 3))  # 3 failures: one more than its retries
    assert result.status == TaskResultStatus.FAILED
    runs_client.retry_run(result.id)
    finished(result)
    assert result.status == TaskResultStatus.SUCCESSFUL and result.errors == []
