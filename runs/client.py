"""The Python client: send events, read runs, cancel. Sync functions with `a`-prefixed async twins."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async

from runs import operations
from runs.domain import RunInfo
from runs.status import ActionKind, RetryMode
from runs.store import intake, reads


def send(name: str, data: dict[str, Any] | None = None, *, user: dict[str, Any] | None = None,
         id: str | None = None) -> str:
    """Send one event; returns its id. An id seen before is not processed twice."""
    event: dict[str, Any] = {"name": name, "data": data, "user": user}
    if id is not None:
        event["id"] = id
    return intake.send_events([event])[0]


def send_many(events: list[dict[str, Any]]) -> list[str]:
    """Send several events in one transaction; returns their ids in order (an id seen before is not processed
    twice)."""
    return intake.send_events(events)


def get_run(run_id: str) -> RunInfo:
    """The run with its steps; RunNotFound if there is none."""
    return reads.get_run(run_id)


def runs_for_event(event_id: str) -> list[RunInfo]:
    """The runs an event started (or stored as skipped), oldest first."""
    return reads.runs_for_event(event_id)


def list_runs(*, app_id: str | None = None, function_id: str | None = None, status: str | None = None,
              parent_run_id: str | None = None, root_run_id: str | None = None, limit: int = 100) -> list[RunInfo]:
    """Runs, newest first, filtered by app, function, status, parent or root."""
    return reads.list_runs(app_id=app_id, function_id=function_id, status=status, parent_run_id=parent_run_id,
                           root_run_id=root_run_id, limit=limit)


def cancel_run(run_id: str, *, cascade: bool = False) -> RunInfo:
    """Cancel a run (with `cascade`, its descendants too); ActionRefused if it has finished."""
    operations.cancel(run_id, cascade=cascade)
    return reads.get_run(run_id)


def retry_run(run_id: str, *, mode: str = RetryMode.FROM_FAILURE, step_id: str | None = None,
              data: dict[str, Any] | None = None) -> RunInfo:
    """Retry a run: "from_failure", "from_start" (a new linked run; with `data`, with that edited event data),
    "root_cause" (O5) or "from_step" (with `step_id`: earlier steps replay, it and later ones run again).

    Returns the run that will execute."""
    return reads.get_run(operations.retry(run_id, mode=mode, step_id=step_id, data=data))


def pause_function(app_id: str, function_id: str) -> None:
    """Pause a function: its new runs are created but none starts until `resume_function`."""
    operations.set_paused(app_id, function_id, True)


def resume_function(app_id: str, function_id: str) -> int:
    """Resume a paused function; returns how many of its queued runs became due again."""
    return operations.set_paused(app_id, function_id, False).resumed_runs


def bulk_cancel(**filters: Any) -> int:
    """Cancel every active run matching the runs page's filters; returns how many were cancelled."""
    return operations.bulk(ActionKind.CANCEL, filters)["done"]


def bulk_retry(**filters: Any) -> int:
    """Retry from failure every failed run matching the filters; returns how many were retried."""
    return operations.bulk(ActionKind.RETRY, filters)["done"]


def wake_run(run_id: str, *, step_id: str | None = None) -> RunInfo:
    """End a waiting run's sleep now (`step_id`, or the sleep that ends first); ActionRefused if none waits."""
    operations.wake(run_id, step_id=step_id)
    return reads.get_run(run_id)


def fail_invoke(run_id: str, step_id: str) -> RunInfo:
    """Fail a waiting invoke step with a StepError ("failed by operator"); the invoked run goes on."""
    operations.fail_invoke(run_id, step_id)
    return reads.get_run(run_id)


def cancel_invoke(run_id: str, step_id: str, *, cascade: bool = True) -> RunInfo:
    """Cancel the run a waiting invoke step waits on (with `cascade`, its active descendants too)."""
    operations.cancel_invoke(run_id, step_id, cascade=cascade)
    return reads.get_run(run_id)


asend = sync_to_async(send)
asend_many = sync_to_async(send_many)
aget_run = sync_to_async(get_run)
aruns_for_event = sync_to_async(runs_for_event)
alist_runs = sync_to_async(list_runs)
acancel_run = sync_to_async(cancel_run)
aretry_run = sync_to_async(retry_run)
abulk_cancel = sync_to_async(bulk_cancel)
abulk_retry = sync_to_async(bulk_retry)
apause_function = sync_to_async(pause_function)
aresume_function = sync_to_async(resume_function)
