"""HTTP edge of operator actions (O3-O6): cancel, retry, bulk. Each needs the permission `runs.operate_run`;
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
from runs.exceptions import ActionRefused, EventNotFound, InvalidFilter, RunNotFound
from runs.models import ApiToken, Run
from runs.status import ActionKind, RetryMode
from runs.store import actions, reads, replays
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
    mode, dry_run = body.get("mode", RetryMode.FROM_FAILURE), body.get("dry_run", False)
    if mode not in RETRY_MODES:
        return error(400, f"'mode' must be one of {', '.join(RETRY_MODES)}")
    if not isinstance(dry_run, bool):
        return error(400, "'dry_run' must be true or false")
    if dry_run:  # what a confirm dialog names: the run that executes and the chain that resumes after it
        executes, chain = actions.retry_preview(run_id, mode=mode)
        return as_json({"would_execute": _brief(executes), "chain": [_brief(run) for run in chain],
                        "new_run": mode == RetryMode.FROM_START})
    executing = operations.retry(run_id, mode=mode, actor=request.user)
    return as_json({"run": dataclasses.asdict(reads.get_run(executing))})


@operator_action
def bulk(request: HttpRequest, body: dict[str, Any]) -> JsonResponse:
    action, filters, dry_run = body.get("action"), body.get("filters", {}), body.get("dry_run", False)
    if action not in ActionKind.values:
        return error(400, "'action' must be cancel or retry")
    if not isinstance(filters, dict) or not isinstance(dry_run, bool):
        return error(400, "'filters' must be an object and 'dry_run' true or false")
    if not filters:
        return error(400, "bulk actions need at least one filter")
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
