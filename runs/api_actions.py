"""HTTP edge of operator actions (O3-O6): cancel, retry, bulk, pausing a function. Each needs the permission `runs.operate_run`;
a browser session must also pass CSRF (an API token holder has no cookie to forge), an API token must have
the operate scope."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from runs import operations
from runs.api import allow, api_login_required, api_token_of, as_json, error, parse_json
from runs.exceptions import (
    ActionRefused,
    EventNotFound,
    IntakeLimitExceeded,
    InvalidEvent,
    InvalidFilter,
    RunNotFound,
)
from runs.models import ApiToken, Run
from runs.status import ActionKind, RetryMode
from runs.store import actions, pausing, reads, replays
from runs.store.actions import RETRY_MODES

PERMISSION = "runs.operate_run"


def _brief(run: Run) -> dict[str, Any]:
    return {"id": run.id, "function_id": run.function_id, "app_id": run.app_id, "status": run.status}


def _csrf_failure(request: HttpRequest) -> HttpResponse | None:
    checker = CsrfViewMiddleware(lambda req: HttpResponse())
    return checker.process_view(request, lambda req: HttpResponse(), (), {})


def operator_action(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    """POST only; logged in (session or API token); CSRF unless authenticated by a token, which must have the
    operate scope; the operate permission; JSON body."""

    @csrf_exempt
    @allow("POST")
    @api_login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        token = api_token_of(request)
        # Only a request that authenticated by its token skips CSRF: merely sending an Authorization header
        # does not (a session with 'Bearer <anything>' is still a session).
        if token is None and _csrf_failure(request) is not None:
            return error(403, "CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header")
        if token is not None and token.scope != ApiToken.Scope.OPERATE:
            return error(403, f"this API token ({token.prefix}...) is read-only; act on runs with a token created "
                              f"by 'manage.py create_api_token --scope operate'")
        if not request.user.has_perm(PERMISSION):
            return error(403, f"you need the permission {PERMISSION} to act on runs")
        try:
            body = parse_json(request.body) if request.body.strip() else {}
        except ValueError as exc:
            return error(400, f"body is not JSON: {exc}")
        if not isinstance(body, dict):
            return error(400, "body must be a JSON object")
        try:
            return view(request, body, *args, **kwargs)
        except (RunNotFound, EventNotFound) as exc:
            return error(404, str(exc))
        except InvalidFilter as exc:  # before ActionRefused (its base): bad input is 400, not a state conflict
            return error(400, str(exc))
        except ActionRefused as exc:
            return error(409, str(exc))

    return wrapped


@operator_action
def cancel_run(request: HttpRequest, body: dict[str, Any], run_id: str) -> JsonResponse:
    cascade, dry_run = body.get("cascade", False), body.get("dry_run", False)
    if not isinstance(cascade, bool) or not isinstance(dry_run, bool):
        return error(400, "'cascade' and 'dry_run' must be true or false")
    if dry_run:  # the count a confirm dialog shows; nothing changes, nothing is audited
        ids = actions.cancel_preview(run_id, cascade=cascade)
        return as_json({"would_cancel": len(ids), "run_ids": ids})
    cancelled = operations.cancel(run_id, cascade=cascade, actor=request.user)
    return as_json({"cancelled": cancelled, "run": dataclasses.asdict(reads.get_run(run_id))})


@operator_action
def retry_run(request: HttpRequest, body: dict[str, Any], run_id: str) -> JsonResponse:
    """`mode`: from_failure (default), root_cause, from_start (with `data`: a rerun with edited input),
    from_step (with `step_id`); `dry_run` previews."""
    mode, dry_run = body.get("mode", RetryMode.FROM_FAILURE), body.get("dry_run", False)
    step_id, data = body.get("step_id"), body.get("data")
    if mode not in RETRY_MODES:
        return error(400, f"'mode' must be one of {', '.join(RETRY_MODES)}")
    if not isinstance(dry_run, bool):
        return error(400, "'dry_run' must be true or false")
    if mode == RetryMode.FROM_STEP and (not isinstance(step_id, str) or not step_id):
        return error(400, "retry from a step needs 'step_id', the id of one of the run's steps (a string)")
    if step_id is not None and mode != RetryMode.FROM_STEP:
        return error(400, "'step_id' goes with mode from_step only")
    if data is not None and mode != RetryMode.FROM_START:
        return error(400, "'data' (edited input) goes with mode from_start only")
    try:
        if dry_run:  # what a confirm dialog names: the run that executes, the chain after it, the steps again
            plan = actions.retry_preview_plan(run_id, mode=mode, step_id=step_id, data=data)
            return as_json({"would_execute": _brief(plan.executes), "chain": [_brief(run) for run in plan.chain],
                            "new_run": mode == RetryMode.FROM_START,
                            "steps": [step.step_id for step in plan.rerun_steps]})
        executing = operations.retry(run_id, mode=mode, actor=request.user, step_id=step_id, data=data)
    except IntakeLimitExceeded as exc:
        return error(413, str(exc))
    except InvalidEvent as exc:
        return error(400, f"'data' is not valid event data: {exc}")
    return as_json({"run": dataclasses.asdict(reads.get_run(executing))})


@operator_action
def pause_function(request: HttpRequest, body: dict[str, Any], app_id: str, function_id: str) -> JsonResponse:
    """Pause a function: its new runs queue, none starts until it is resumed."""
    return _set_paused(request, body, app_id, function_id, paused=True)


@operator_action
def resume_function(request: HttpRequest, body: dict[str, Any], app_id: str, function_id: str) -> JsonResponse:
    """Resume a paused function: its queued runs become due, in order of arrival."""
    return _set_paused(request, body, app_id, function_id, paused=False)


def _set_paused(request: HttpRequest, body: dict[str, Any], app_id: str, function_id: str, *,
                paused: bool) -> JsonResponse:
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        return error(400, "'dry_run' must be true or false")
    if dry_run:  # what the confirm says: whether it changes anything, and how many queued runs a resume frees
        if not pausing.function_exists(app_id, function_id):
            return error(404, f"no function {function_id!r} registered in app {app_id!r}")
        return as_json({"app_id": app_id, "function_id": function_id,
                        "paused": pausing.is_paused(app_id, function_id),
                        "parked_runs": pausing.parked_count(app_id, function_id)})
    change = operations.set_paused(app_id, function_id, paused, actor=request.user)
    return as_json({"app_id": change.app_id, "function_id": change.function_id, "paused": change.paused,
                    "changed": change.changed, "resumed_runs": change.resumed_runs})


@operator_action
def bulk(request: HttpRequest, body: dict[str, Any]) -> JsonResponse:
    """By filters (`filters`) or by selection (`run_ids`, the runs page's checkboxes): one or the other."""
    action, dry_run = body.get("action"), body.get("dry_run", False)
    filters, run_ids = body.get("filters", {}), body.get("run_ids")
    if action not in ActionKind.values:
        return error(400, "'action' must be cancel or retry")
    if not isinstance(filters, dict) or not isinstance(dry_run, bool):
        return error(400, "'filters' must be an object and 'dry_run' true or false")
    if run_ids is not None:
        if filters:
            return error(400, "send 'filters' or 'run_ids', not both")
        return as_json(operations.bulk(action, {}, dry_run=dry_run, actor=request.user,
                                       run_ids=actions.selected_ids(run_ids)))
    if not filters:
        return error(400, "bulk actions need at least one filter (or 'run_ids')")
    return as_json(operations.bulk(action, filters, dry_run=dry_run, actor=request.user))


MAX_EVENT_ID_CHARS = 64  # Event.id


@operator_action
def replay_event(request: HttpRequest, body: dict[str, Any], event_id: str) -> JsonResponse:
    """Send a stored event again as a new event (runs/store/replays.py): its id, the old one's, the runs it
    started. Audited; the engine's own events are refused (409)."""
    if len(event_id) > MAX_EVENT_ID_CHARS or "\x00" in event_id:  # no column holds it: not a 500 from the database
        return error(404, f"no event with id {event_id[:64]!r}")
    replay = replays.replay_event(event_id, user=request.user)
    return as_json({"event_id": replay.event_id, "replay_of": replay.replay_of, "name": replay.name,
                    "run_ids": replay.run_ids})


def _incident(request: HttpRequest, body: dict[str, Any], incident_id: str, action: str) -> JsonResponse:
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        return error(400, "'dry_run' must be true or false")
    # A preview lists the roots it would touch; nothing changes, nothing is audited.
    return as_json(operations.incident(incident_id, action, dry_run=dry_run, actor=request.user))


@operator_action
def incident_retry(request: HttpRequest, body: dict[str, Any], incident_id: str) -> JsonResponse:
    """Retry the root cause of each of the incident's failed roots (one audited bulk action)."""
    return _incident(request, body, incident_id, ActionKind.RETRY)


@operator_action
def incident_cancel(request: HttpRequest, body: dict[str, Any], incident_id: str) -> JsonResponse:
    """Cancel each of the incident's roots that is active again (retried), with its descendants."""
    return _incident(request, body, incident_id, ActionKind.CANCEL)


# --- a waiting run's waiting step (issue 11 item 10) ---------------------------------------------------------


@operator_action
def wake_run(request: HttpRequest, body: dict[str, Any], run_id: str) -> JsonResponse:
    """End a sleep now: `step_id` names it, default the run's waiting sleep that ends first."""
    step_id = body.get("step_id")
    if step_id is not None and (not isinstance(step_id, str) or not step_id):
        return error(400, "'step_id' must be a step id (text)")
    woken = operations.wake(run_id, step_id=step_id, actor=request.user)
    return as_json({"woken": woken, "run": dataclasses.asdict(reads.get_run(run_id))})


@operator_action
def fail_step(request: HttpRequest, body: dict[str, Any], run_id: str, step_id: str) -> JsonResponse:
    """Fail a waiting invoke step: the parent gets a non-retriable StepError; the child goes on."""
    child = operations.fail_invoke(run_id, step_id, actor=request.user)
    return as_json({"failed": step_id, "child_run_id": child, "run": dataclasses.asdict(reads.get_run(run_id))})


@operator_action
def cancel_step(request: HttpRequest, body: dict[str, Any], run_id: str, step_id: str) -> JsonResponse:
    """Cancel the run a waiting invoke step waits on (`cascade`, default true: with its active descendants)."""
    cascade = body.get("cascade", True)
    if not isinstance(cascade, bool):
        return error(400, "'cascade' must be true or false")
    done = operations.cancel_invoke(run_id, step_id, cascade=cascade, actor=request.user)
    return as_json({"cancelled": done.cancelled, "child_run_id": done.child_run_id,
                    "run": dataclasses.asdict(reads.get_run(run_id))})
