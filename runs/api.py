"""The HTTP edge of the engine: event intake and run reads. Bad input gets a 4xx with a JSON reason."""

from __future__ import annotations

import dataclasses
import hmac
import json
import math
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from runs import conf, intake_rate
from runs.exceptions import IntakeLimitExceeded, InvalidEvent, RunNotFound
from runs.models import ApiToken, Event
from runs.store import intake, reads, tokens
from runs.store.intake import MAX_EVENT_BYTES

# "Oversize (> 512 KiB)" is checked on the whole body, before it is read or parsed; intake checks each event too.
MAX_BODY_BYTES = MAX_EVENT_BYTES


def error(status: int, reason: str) -> JsonResponse:
    return JsonResponse({"error": reason}, status=status)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # 1e999 parses to inf, which no database JSON column accepts.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def parse_json(body: bytes) -> Any:
    """Strict JSON: no NaN/Infinity; ValueError for anything else malformed, too deep or not UTF-8."""
    try:
        return json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _body_too_big(request: HttpRequest) -> bool:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return True
    try:
        return len(request.body) > MAX_BODY_BYTES
    except RequestDataTooBig:
        return True


def as_json(value: Any, status: int = 200) -> JsonResponse:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return JsonResponse(value, status=status, encoder=DjangoJSONEncoder, safe=False)


def _bearer(request: HttpRequest) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return (credentials.strip() or None) if scheme.lower() == "bearer" else None


def _unauthorized(reason: str) -> JsonResponse:
    response = error(401, reason)
    response["WWW-Authenticate"] = "Bearer"
    return response


def allow(method: str) -> Callable[[Callable[..., JsonResponse]], Callable[..., JsonResponse]]:
    """Like require_http_methods, but the 405 carries a JSON reason like every other API error."""

    def decorator(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            allowed = (method, "HEAD") if method == "GET" else (method,)
            if request.method not in allowed:
                response = error(405, f"method {request.method} not allowed; use {method}")
                response["Allow"] = ", ".join(allowed)
                return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def api_token_of(request: HttpRequest) -> ApiToken | None:
    """The API token this request authenticated with; None for a session (which must then pass CSRF)."""
    return getattr(request, "_runs_api_token", None)


def api_login_required(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    """A logged-in session or an API token (Authorization: Bearer <token>); else 401 with a JSON reason.
    A session wins: the Authorization header of a logged-in browser is ignored, so it cannot skip CSRF."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        if not request.user.is_authenticated:
            token = _bearer(request)
            found = tokens.authenticate(token) if token else None
            if found is None:
                return _unauthorized("log in, or send 'Authorization: Bearer <api token>' "
                                     "(a token that is not expired or revoked)")
            request.user = found.user
            request._runs_api_token = found  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapped


@csrf_exempt  # authenticated by the event key, not by a session cookie
@allow("POST")
def post_events(request: HttpRequest) -> JsonResponse:
    key = _bearer(request)
    if not key or not hmac.compare_digest(key.encode(), conf.get("RUNS_EVENT_KEY").encode()):
        return _unauthorized("missing or wrong event key (Authorization: Bearer <RUNS_EVENT_KEY>)")
    if _body_too_big(request):
        return error(413, f"request body is larger than {MAX_BODY_BYTES} bytes (512 KiB)")
    if not request.body.strip():
        return error(400, "body is empty; send an event object or a list of them")
    try:
        payload = parse_json(request.body)
    except ValueError as exc:  # includes UnicodeDecodeError
        return error(400, f"body is not JSON: {exc}")
    events = payload if isinstance(payload, list) else [payload]
    try:
        batch = intake.normalise_events(events)
    except IntakeLimitExceeded as exc:  # too many events, or one too big
        return error(413, str(exc))
    except InvalidEvent as exc:
        return error(400, str(exc))
    wait = intake_rate.retry_after(key, len(batch))
    if wait:  # refused whole, before anything is stored
        response = error(429, f"too many events for this key: at most {conf.get('RUNS_INTAKE_RATE'):g} a second "
                              f"(bursts of {conf.get('RUNS_INTAKE_BURST')}); retry in {wait} s")
        response["Retry-After"] = str(wait)
        return response
    return JsonResponse({"ids": intake.store_events(batch)})


@allow("GET")
@api_login_required
def get_run(request: HttpRequest, run_id: str) -> JsonResponse:
    try:
        return as_json(reads.get_run(run_id))
    except RunNotFound as exc:
        return error(404, str(exc))


@allow("GET")
@api_login_required
def get_event_runs(request: HttpRequest, event_id: str) -> JsonResponse:
    """The runs an event started (POST /api/events answers event ids; this finds their runs). No steps."""
    if not Event.objects.filter(id=event_id).exists():
        return error(404, f"no event with id {event_id!r}")
    return as_json({"runs": [dataclasses.asdict(run) for run in reads.runs_for_event(event_id)]})
