"""Apps served by official Inngest SDKs: their registrations (`POST /fn/register`, in-band sync) stored as one
SdkApp row plus a Function (and CancelRule) row per function, and read back for the dashboard.

The store is the only writer of these rows. A function that vanished from its app on re-registration is
deleted (its runs stay; new runs of it fail "function not found").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from runs.inngest.config import ConfigError, MappedFunction, map_function, origin
from runs.limits import MAX_NAME_CHARS
from runs.models import CancelRule, Function, SdkApp
from runs.remote import RUNTIME_INNGEST_JS, RUNTIME_INNGEST_PY
from runs.store.ending import forget_listeners
from runs.store.passes import forget_function_configs
from runs.store.transient import retrying
from runs.values import JSON_NUL, MAX_JSON_DEPTH, storable_text, too_deep, utf8_json

SYNC_KINDS = ("out_of_band", "in_band")
_MAX_SYNC_ERROR_CHARS = 2000


class InvalidRegistration(ValueError):
    """A registration that is refused (malformed body, invalid function config, an app id taken by a native
    app); nothing was stored. The message is the reason, for the SDK and the dashboard."""


@dataclass(frozen=True, slots=True)
class Registered:
    app_id: str
    modified: bool  # whether anything stored changed (a new app, a new/changed/vanished function, new URL)
    functions: int


@dataclass(frozen=True, slots=True)
class SdkFunctionInfo:
    app_id: str
    function_id: str
    name: str
    trigger: str
    url: str
    runtime: str
    retries: int
    unsupported: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SdkAppInfo:
    app_id: str
    url: str
    runtime: str
    sdk: str
    framework: str
    last_sync_at: Any
    last_sync_ok: bool
    last_sync_kind: str
    last_sync_error: str
    created_at: Any
    functions: tuple[SdkFunctionInfo, ...]


def _text(payload: dict[str, Any], *names: str) -> Any:
    for name in names:
        if payload.get(name) is not None:
            return payload[name]
    return None


def runtime_of(sdk: str, sdk_header: str = "") -> str:
    """inngest-py or inngest-js, from the body's `sdk` ("py:v0.5.19") or the `X-Inngest-SDK` header
    ("inngest-js:v4.24.0"); InvalidRegistration for any other SDK (its answers are not what we speak)."""
    for text, prefixes in ((sdk, ("py:", "js:")), (sdk_header, ("inngest-py:", "inngest-js:"))):
        for prefix in prefixes:
            if text.startswith(prefix):
                return RUNTIME_INNGEST_PY if "py:" in prefix else RUNTIME_INNGEST_JS
    raise InvalidRegistration(f"unsupported SDK {sdk or sdk_header or '(none named)'!r}: Tributary serves "
                              "inngest-py and inngest-js apps")


def parse_registration(payload: Any, *, sdk_header: str = "", framework_header: str = "",
                       kind: str = "out_of_band") -> tuple[dict[str, str], list[MappedFunction]]:
    """The SdkApp fields and the mapped functions of a registration body; InvalidRegistration says why not."""
    if kind not in SYNC_KINDS:
        raise ValueError(f"unknown sync kind {kind!r}")
    if not isinstance(payload, dict):
        raise InvalidRegistration("the registration body must be a JSON object")
    # None of these can be stored (jsonb, text columns): refused here, before anything is written.
    if too_deep(payload):
        raise InvalidRegistration(f"the registration nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        text = utf8_json(payload)
    except UnicodeEncodeError:
        raise InvalidRegistration("the registration contains text that is not valid Unicode: a lone surrogate "
                                  "(\\ud800-\\udfff without its pair)") from None
    except ValueError as exc:  # NaN or Infinity (an in-band answer is parsed leniently)
        raise InvalidRegistration(f"the registration is not storable JSON: {exc}") from None
    if JSON_NUL.search(text):
        raise InvalidRegistration("the registration contains a NUL character (\\u0000)")
    app_id = _text(payload, "appName", "appname")
    if not isinstance(app_id, str) or not app_id.strip():
        raise InvalidRegistration("the registration needs 'appName' (or 'appname'): the app id")
    if len(app_id) > MAX_NAME_CHARS:
        raise InvalidRegistration(f"the app id is longer than {MAX_NAME_CHARS} characters")
    deploy_type = _text(payload, "deployType", "deploy_type")
    if kind == "out_of_band" and deploy_type != "ping":
        raise InvalidRegistration(f"'deployType' (or 'deploy_type') must be 'ping', not {deploy_type!r}")
    url = payload.get("url")
    app_origin = origin(url) if isinstance(url, str) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or app_origin is None:
        raise InvalidRegistration("the registration needs 'url': the app's http(s) serve URL, with a host")
    sdk: str = payload["sdk"] if isinstance(payload.get("sdk"), str) else ""
    runtime = runtime_of(sdk, sdk_header)
    framework: str = payload["framework"] if isinstance(payload.get("framework"), str) else framework_header
    functions = payload.get("functions")
    if not isinstance(functions, list):
        raise InvalidRegistration("the registration needs 'functions': a list of function configs")
    mapped = []
    try:
        for raw in functions:
            mapped.append(map_function(raw, app_id=app_id, runtime=runtime))
    except ConfigError as exc:
        raise InvalidRegistration(str(exc)) from None
    seen: set[str] = set()
    for fn in mapped:
        if fn.function_id in seen:
            raise InvalidRegistration(f"function id {app_id}-{fn.function_id!r} is registered twice")
        seen.add(fn.function_id)
        # Workers POST to each call URL. The SDKs build it from the same serve origin as `url`; one elsewhere
        # would let an unauthenticated (dev mode) registration aim workers at any host, so it is refused.
        if origin(fn.config["url"]) != app_origin:
            raise InvalidRegistration(f"function {app_id}-{fn.function_id!r}: its call URL "
                                      f"{fn.config['url'][:300]!r} is not on the app's origin {app_origin} (the "
                                      "scheme, host and port of 'url')")
    app = {"app_id": app_id, "url": url, "runtime": runtime, "sdk": (sdk or sdk_header)[:64],
           "framework": (framework or "")[:64]}
    return app, mapped


def register_app(payload: Any, *, sdk_header: str = "", framework_header: str = "",
                 kind: str = "out_of_band") -> Registered:
    """Store a registration in one transaction: the SdkApp row, its functions (vanished ones deleted) and
    their cancel rules. InvalidRegistration if the body is refused; nothing is stored then."""
    app, mapped = parse_registration(payload, sdk_header=sdk_header, framework_header=framework_header, kind=kind)

    def work() -> Registered:
        with transaction.atomic():
            return _store_txn(app, mapped, kind)

    try:
        result = retrying(work, f"registering app {app['app_id']}")
    except IntegrityError:  # another registration of the same new app committed first: now it is an update
        result = retrying(work, f"registering app {app['app_id']}")
    forget_listeners()
    forget_function_configs()
    return result


def _store_txn(app: dict[str, str], mapped: list[MappedFunction], kind: str) -> Registered:
    app_id = app["app_id"]
    existing = {fn.function_id: fn for fn in Function.objects.select_for_update().filter(app_id=app_id)}
    native = sorted(fid for fid, fn in existing.items() if not (fn.config or {}).get("runtime"))
    if native:
        raise InvalidRegistration(f"app id {app_id!r} is taken by native functions ({', '.join(native[:5])}); "
                                  "give the SDK app another id")
    row = SdkApp.objects.select_for_update().filter(app_id=app_id).first()
    before = None if row is None else (row.url, row.runtime, row.sdk, row.framework)
    wanted = {fn.function_id: fn for fn in mapped}
    modified = before != (app["url"], app["runtime"], app["sdk"], app["framework"]) or set(existing) != set(wanted)
    for function_id, fn in wanted.items():
        old = existing.get(function_id)
        if old is not None and old.trigger == fn.trigger and old.config == fn.config:
            continue
        modified = True
        Function.objects.update_or_create(app_id=app_id, function_id=function_id,
                                          defaults={"trigger": fn.trigger, "config": fn.config})
        CancelRule.objects.filter(app_id=app_id, function_id=function_id).delete()
        CancelRule.objects.bulk_create([
            CancelRule(app_id=app_id, function_id=function_id, event=rule["event"], match=rule["match"],
                       expression=rule["expression"], timeout_ms=rule["timeout_ms"])
            for rule in fn.config["cancel_on"]])
    vanished = set(existing) - set(wanted)
    if vanished:
        Function.objects.filter(app_id=app_id, function_id__in=vanished).delete()
        CancelRule.objects.filter(app_id=app_id, function_id__in=vanished).delete()
    fields = {**app, "last_sync_at": timezone.now(), "last_sync_ok": True, "last_sync_kind": kind,
              "last_sync_error": ""}
    if row is None:
        SdkApp.objects.create(**fields)
    else:
        SdkApp.objects.filter(pk=row.pk).update(**fields)
    return Registered(app_id=app_id, modified=modified, functions=len(wanted))


def record_sync_failure(*, error: str, kind: str, url: str | None = None, app_id: str | None = None) -> int:
    """Note a failed sync on the app rows it concerns (by app id, else by URL); how many rows were updated.
    An app never synced has no row: nothing is recorded then (the caller reports the error itself)."""
    if kind not in SYNC_KINDS:
        raise ValueError(f"unknown sync kind {kind!r}")
    if app_id:
        rows = SdkApp.objects.filter(app_id=app_id)
    elif url:
        rows = SdkApp.objects.filter(url=url)
    else:
        return 0
    return retrying(lambda: rows.update(last_sync_at=timezone.now(), last_sync_ok=False, last_sync_kind=kind,
                                        last_sync_error=storable_text(error)[:_MAX_SYNC_ERROR_CHARS]),
                    "recording a failed sync")


def record_refused_registration(payload: Any, *, error: str, kind: str = "out_of_band") -> int:
    """Note a refused registration on the app it names, if it is one we know: by its app id, else by its URL,
    so the Apps page does not keep showing the previous sync's "ok". How many rows were updated. A name that no
    column could hold (see parse_registration) names no app."""
    if not isinstance(payload, dict):
        return 0
    app_id, url = _storable_name(_text(payload, "appName", "appname")), _storable_name(payload.get("url"))
    updated = record_sync_failure(error=error, kind=kind, app_id=app_id) if app_id else 0
    if not updated and url:
        updated = record_sync_failure(error=error, kind=kind, url=url)
    return updated


def _storable_name(value: Any) -> str | None:
    if not isinstance(value, str) or not value or "\x00" in value:
        return None
    try:
        utf8_json(value)
    except ValueError:  # a lone surrogate
        return None
    return value


def sdk_app_ids() -> list[str]:
    """Apps served by Inngest SDKs over HTTP (any worker may claim their runs)."""
    return retrying(lambda: list(SdkApp.objects.order_by("app_id").values_list("app_id", flat=True)),
                    "reading the SDK apps")


def app_url(app_id: str) -> str | None:
    """The serve URL an app last reported (what "Sync now" PUTs), or None for an unknown app."""
    return SdkApp.objects.filter(app_id=app_id).values_list("url", flat=True).first()


def _function_info(fn: Function) -> SdkFunctionInfo:
    config = fn.config or {}
    return SdkFunctionInfo(app_id=fn.app_id, function_id=fn.function_id, name=config.get("name") or fn.function_id,
                           trigger=fn.trigger, url=config.get("url") or "", runtime=config.get("runtime") or "",
                           retries=int(config.get("retries", 0)),
                           unsupported=tuple(config.get("unsupported") or ()))


def list_apps(app_ids: list[str] | None = None) -> list[SdkAppInfo]:
    """Every SDK app (or those named) with its functions, by app id."""
    rows = SdkApp.objects.order_by("app_id")
    if app_ids is not None:
        rows = rows.filter(app_id__in=app_ids)
    apps = list(rows)
    functions: dict[str, list[SdkFunctionInfo]] = {}
    for fn in Function.objects.filter(app_id__in=[a.app_id for a in apps]).order_by("function_id"):
        if (fn.config or {}).get("runtime"):
            functions.setdefault(fn.app_id, []).append(_function_info(fn))
    return [SdkAppInfo(app_id=a.app_id, url=a.url, runtime=a.runtime, sdk=a.sdk, framework=a.framework,
                       last_sync_at=a.last_sync_at, last_sync_ok=a.last_sync_ok, last_sync_kind=a.last_sync_kind,
                       last_sync_error=a.last_sync_error, created_at=a.created_at,
                       functions=tuple(functions.get(a.app_id, ()))) for a in apps]


def get_app(app_id: str) -> SdkAppInfo | None:
    found = list_apps([app_id])
    return found[0] if found else None
