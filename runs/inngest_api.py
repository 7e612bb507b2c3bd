"""Inngest's own server endpoints, for official SDK apps (protocol document sections 3, 4, 10 and the REST v1
reads): `POST /fn/register`, `POST /e/<event key>`, `GET /v1/events/<id>/runs`, `GET /v1/runs/<id>`.

Machine endpoints: CSRF-exempt, JSON in and out, errors as `{"error": ..., "status": <code>}` (inngest-js takes
the HTTP status of its own sync answer from that `status` field). Auth follows runs.inngest_mode: signed mode
needs the SDKs' bearer of the signing key, dev mode nothing, off mode refuses everything with a 403.
Events go through the same intake as `POST /api/events` (limits, rate, dedupe), so they start native and SDK
functions alike.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from runs import conf, inngest_mode, intake_rate
from runs.api import MAX_BODY_BYTES, _body_too_big, parse_json
from runs.domain import RunInfo
from runs.exceptions import IntakeLimitExceeded, InvalidEvent, RunNotFound
from runs.inngest import signing
from runs.inngest.ids import ulid
from runs.models import Event
from runs.remote import composite_id
from runs.status import RunStatus
from runs.store import intake, reads
from runs.store.sdk_apps import InvalidRegistration, record_refused_registration, register_app

# What both SDKs send to /e/<key> in dev mode when the app has no event key.
NO_EVENT_KEY = "NO_EVENT_KEY_SET"

# Run statuses in Inngest's words. A skipped run (rate limited, superseded by a debounce) never ran; Inngest
# would not have created it at all, so it reads as Cancelled: terminal, no output.
INNGEST_STATUS = {
    RunStatus.QUEUED: "Running", RunStatus.RUNNING: "Running", RunStatus.WAITING: "Running",
    RunStatus.COMPLETED: "Completed", RunStatus.FAILED: "Failed", RunStatus.CANCELLED: "Cancelled",
    RunStatus.SKIPPED: "Cancelled",
}


def fail(status: int, reason: str) -> JsonResponse:
    return JsonResponse({"error": reason, "status": status}, status=status)


def _endpoint(method: str) -> Callable[[Callable[..., JsonResponse]], Callable[..., JsonResponse]]:
    """Only `method` (GET also answers HEAD), and only when SDK apps are enabled (runs.inngest_mode)."""

    def decorator(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            allowed = (method, "HEAD") if method == "GET" else (method,)
            if request.method not in allowed:
                response = fail(405, f"method {request.method} not allowed; use {method}")
                response["Allow"] = ", ".join(allowed)
                return response
            if inngest_mode.mode() == "off":
                return fail(403, inngest_mode.ENABLE_HINT)
            return view(request, *args, **kwargs)

        return csrf_exempt(wrapped)  # machine endpoints: authenticated by keys, never by a session cookie

    return decorator


def _sdk_auth_refusal(request: HttpRequest) -> JsonResponse | None:
    """Signed mode: the SDKs' `Authorization: Bearer <sha256 of the key>` (bare or prefixed), main or fallback
    key; dev mode: none needed (inngest-js sends `Bearer undefined`)."""
    if inngest_mode.mode() != "signed":
        return None
    try:
        if signing.bearer_matches(request.headers.get("Authorization"), inngest_mode.signing_keys()):
            return None
    except ValueError:  # a configured key that is not `signkey-<env>-<hex>`: `manage.py check` says so too
        return fail(503, "RUNS_INNGEST_SIGNING_KEY is not a valid signing key (signkey-<env>-<hex>)")
    response = fail(401, "missing or wrong signing key bearer (Authorization: Bearer <sha256 of the signing key>, "
                         "as the SDKs send with INNGEST_SIGNING_KEY set to this server's key)")
    response["WWW-Authenticate"] = "Bearer"
    return response


def _json_body(request: HttpRequest, *, limited: bool = True) -> tuple[Any, JsonResponse | None]:
    """The parsed body. Events are bounded as at `POST /api/events` (512 KiB); a registration only by the
    server's request body limit (RUNS_MAX_REQUEST_BODY_BYTES), as an app may have many functions."""
    if limited and _body_too_big(request):
        return None, fail(413, f"request body is larger than {MAX_BODY_BYTES} bytes (512 KiB)")
    if not request.body.strip():
        return None, fail(400, "body is empty; send JSON")
    try:
        return parse_json(request.body), None
    except ValueError as exc:  # includes UnicodeDecodeError
        return None, fail(400, f"body is not JSON: {exc}")


@_endpoint("POST")
def register(request: HttpRequest) -> JsonResponse:
    """Out-of-band sync: the SDK posts its app's function configs after a PUT to its serve URL."""
    refusal = _sdk_auth_refusal(request)
    if refusal:
        return refusal
    try:
        payload, refusal = _json_body(request, limited=False)
    except RequestDataTooBig:  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE
        return fail(413, "request body is larger than the server's limit (RUNS_MAX_REQUEST_BODY_BYTES)")
    if refusal:
        return refusal
    try:
        result = register_app(payload, sdk_header=request.headers.get("X-Inngest-SDK", ""),
                              framework_header=request.headers.get("X-Inngest-Framework", ""))
    except InvalidRegistration as exc:
        # An app we know that sends a broken config has not synced: its row says so, not the previous "ok".
        record_refused_registration(payload, error=f"registration refused: {exc}")
        return fail(400, str(exc))
    return JsonResponse({"ok": True, "modified": result.modified})


def _event_key_refusal(key: str) -> JsonResponse | None:
    configured = conf.get("RUNS_EVENT_KEY") or ""
    if configured and hmac.compare_digest(key.encode(), configured.encode()):
        return None
    if key == NO_EVENT_KEY and inngest_mode.mode() == "dev":
        return None
    return fail(401, "unknown event key: send to /e/<RUNS_EVENT_KEY> (set the app's INNGEST_EVENT_KEY to it)"
                + ("; in dev mode an app without a key may also use NO_EVENT_KEY_SET"
                   if inngest_mode.mode() == "dev" else ""))


def _seeded_id(seed: str | None, index: int) -> str:
    """The id of the index-th event without one. The SDKs send `X-Inngest-Event-Id-Seed: <ms>,<base64 of 10
    random bytes>` so that a retried send (they retry on 5xx and network errors) names the same events:
    the same seed gives the same ids here, and intake processes an id once. No seed: a fresh ULID."""
    try:
        ms_text, entropy_text = (seed or "").split(",", 1)
        ms, entropy = int(ms_text), base64.b64decode(entropy_text, validate=True)
    except (ValueError, binascii.Error):
        return ulid()
    if len(entropy) != 10 or not 0 <= ms < 2**48:
        return ulid()
    value = (ms << 80) | ((int.from_bytes(entropy, "big") + index) % 2**80)
    return "".join("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[(value >> shift) & 31] for shift in range(125, -1, -5))


@_endpoint("POST")
def send_events(request: HttpRequest, event_key: str) -> JsonResponse:
    """Events from SDKs (`send`, `step.sendEvent`) or anyone with the key: an array or one object."""
    refusal = _event_key_refusal(event_key)
    if refusal:
        return refusal
    payload, refusal = _json_body(request)
    if refusal:
        return refusal
    events = payload if isinstance(payload, list) else [payload]
    seed = request.headers.get("X-Inngest-Event-Id-Seed")
    now_ms = int(time.time() * 1000)
    filled = [{**event, "id": event.get("id") or _seeded_id(seed, index), "ts": event.get("ts") or now_ms}
              if isinstance(event, dict) else event for index, event in enumerate(events)]
    try:
        batch = intake.normalise_events(filled)
    except IntakeLimitExceeded as exc:
        return fail(413, str(exc))
    except InvalidEvent as exc:
        return fail(400, str(exc))
    wait = intake_rate.retry_after(event_key, len(batch))
    if wait:
        response = fail(429, f"too many events for this key: at most {conf.get('RUNS_INTAKE_RATE'):g} a second "
                             f"(bursts of {conf.get('RUNS_INTAKE_BURST')}); retry in {wait} s")
        response["Retry-After"] = str(wait)
        return response
    return JsonResponse({"ids": intake.store_events(batch), "status": 200})


def _iso(moment: Any) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def inngest_run(run: RunInfo) -> dict[str, Any]:
    """A run as Inngest's REST v1 shows it; a failed run's `output` is its error, as in Inngest."""
    return {
        "run_id": run.id,
        "function_id": composite_id(run.app_id, run.function_id),
        "status": INNGEST_STATUS.get(RunStatus(run.status), "Running"),
        "output": run.error if run.status == RunStatus.FAILED else run.output,
        "event_id": run.event_id,
        "run_started_at": _iso(run.started_at or run.created_at),
        "ended_at": _iso(run.ended_at),
    }


@_endpoint("GET")
def event_runs(request: HttpRequest, event_id: str) -> JsonResponse:
    refusal = _sdk_auth_refusal(request)
    if refusal:
        return refusal
    if not Event.objects.filter(id=event_id).exists():
        return fail(404, f"no event with id {event_id!r}")
    return JsonResponse({"data": [inngest_run(run) for run in reads.runs_for_event(event_id)]})


@_endpoint("GET")
def run(request: HttpRequest, run_id: str) -> JsonResponse:
    refusal = _sdk_auth_refusal(request)
    if refusal:
        return refusal
    try:
        found = reads.get_run(run_id)
    except RunNotFound as exc:
        return fail(404, str(exc))
    return JsonResponse({"data": inngest_run(found)})


@csrf_exempt
def unknown(request: HttpRequest, rest: str) -> JsonResponse:
    """Any other path under v1/: a JSON 404 (SDK clients read every answer as JSON)."""
    return fail(404, f"no such Inngest API path: /v1/{rest[:200]}")
