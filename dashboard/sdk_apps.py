"""What the dashboard shows of apps and their functions' runtimes: Inngest SDK apps (SdkApp rows, their functions
are Function rows whose config names a `runtime`) and native `runs.sdk` apps (Function rows without one).

Reads only, in a fixed number of queries: the Apps page is two (apps, functions), a page of runs one more
(the runtimes of the functions on it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q

from dashboard.templatetags.dash import human_ms
from runs.models import Function, SdkApp
from runs.remote import RUNTIME_LABELS, RUNTIME_NATIVE

_SDK = re.compile(r"(?P<lang>[a-z]+):v?(?P<version>\S+)")
_SDK_NAMES = {"py": "inngest-py", "js": "inngest-js"}


def runtime_of(config: Any) -> str:
    """A function's runtime from its stored config: SDK functions carry one, native functions none."""
    runtime = config.get("runtime") if isinstance(config, dict) else None
    return runtime if isinstance(runtime, str) and runtime else RUNTIME_NATIVE


def runtime_label(runtime: str | None) -> str:
    return RUNTIME_LABELS.get(runtime or RUNTIME_NATIVE, runtime or RUNTIME_LABELS[RUNTIME_NATIVE])


def sdk_label(sdk: str) -> str:
    """The SDK as an operator reads it: "py:v0.5.19" -> "inngest-py 0.5.19", "js:v3.54.2" -> "inngest-js 3.54.2";
    anything else as reported."""
    found = _SDK.fullmatch(sdk.strip())
    if not found or found["lang"] not in _SDK_NAMES:
        return sdk
    return f"{_SDK_NAMES[found['lang']]} {found['version']}"


def _keyed(text: str, key: Any) -> str:
    return f"{text} per {key}" if key else text


def flow_summary(config: Any, *, retries: bool = True) -> list[str]:
    """The flow control the engine enforces for a function, one short phrase per rule (native config keys)."""
    config = config if isinstance(config, dict) else {}
    parts = []
    if retries and isinstance(config.get("retries"), int):
        parts.append(f"retries {config['retries']}")
    if isinstance(concurrency := config.get("concurrency"), dict):
        parts.append(_keyed(f"concurrency {concurrency.get('limit')}", concurrency.get("key")))
    if isinstance(rate := config.get("rate_limit"), dict):
        parts.append(_keyed(f"rate limit {rate.get('limit')} / {human_ms(rate.get('period_ms'))}", rate.get("key")))
    if isinstance(debounce := config.get("debounce"), dict):
        text = _keyed(f"debounce {human_ms(debounce.get('period_ms'))}", debounce.get("key"))
        if debounce.get("timeout_ms"):
            text += f" (at most {human_ms(debounce['timeout_ms'])})"
        parts.append(text)
    for rule in config.get("cancel_on") or []:
        if isinstance(rule, dict):
            condition = rule.get("expression") or (f"match {rule['match']}" if rule.get("match") else "")
            parts.append(f"cancel on {rule.get('event')}" + (f" if {condition}" if condition else ""))
    return parts


def unsupported(config: Any) -> list[str]:
    """The options of an SDK function the engine does not enforce, as the registration listed them."""
    found = (config.get("unsupported") if isinstance(config, dict) else None) or []
    items = [str(item) for item in found] if isinstance(found, list) else [str(found)]
    # Each flag must say plainly that the option is not enforced, however the registration worded it.
    return [item if "enforced" in item.lower() else f"{item}: not enforced" for item in items]


def trigger_labels(trigger: str, config: dict[str, Any] | None) -> list[str]:
    """Every trigger of a function: an SDK function's raw triggers (events, with their `if`, and crons), else
    the one event name it is routed by."""
    raw = (config or {}).get("triggers")
    if not isinstance(raw, list) or not raw:
        return [trigger] if trigger else []
    labels = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        if item.get("event"):
            labels.append(f"{item['event']} if {item['expression']}" if item.get("expression") else str(item["event"]))
        elif item.get("cron"):
            labels.append(f"cron {item['cron']}")
    return labels


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCard:
    function_id: str
    name: str
    triggers: list[str]
    retries: Any
    flow: list[str]
    unsupported: list[str]


@dataclass(slots=True, kw_only=True)
class AppCard:
    app_id: str
    runtime: str
    url: str = ""
    sdk: str = ""
    framework: str = ""
    last_sync_at: datetime | None = None
    last_sync_ok: bool = False
    last_sync_kind: str = ""
    last_sync_error: str = ""
    registered: bool = False  # an SdkApp row exists (an SDK app that can be synced by its URL)
    functions: list[FunctionCard] = field(default_factory=list)

    @property
    def runtime_label(self) -> str:
        return runtime_label(self.runtime)

    @property
    def sdk_label(self) -> str:
        return sdk_label(self.sdk)

    @property
    def sync_kind_label(self) -> str:
        return self.last_sync_kind.replace("_", "-")


def function_card(function: Function) -> FunctionCard:
    config = function.config if isinstance(function.config, dict) else {}
    return FunctionCard(function_id=function.function_id, name=str(config.get("name") or ""),
                        triggers=trigger_labels(function.trigger, config), retries=config.get("retries"),
                        flow=flow_summary(config, retries=False), unsupported=unsupported(config))


def apps_overview() -> tuple[list[AppCard], list[AppCard]]:
    """(SDK apps, native apps), each by app id, with their functions: two queries."""
    sdk: dict[str, AppCard] = {
        row.app_id: AppCard(app_id=row.app_id, runtime=row.runtime, url=row.url, sdk=row.sdk,
                            framework=row.framework, last_sync_at=row.last_sync_at, last_sync_ok=row.last_sync_ok,
                            last_sync_kind=row.last_sync_kind, last_sync_error=row.last_sync_error, registered=True)
        for row in SdkApp.objects.order_by("app_id")}
    native: dict[str, AppCard] = {}
    for function in Function.objects.order_by("app_id", "function_id"):
        runtime = runtime_of(function.config if isinstance(function.config, dict) else {})
        if function.app_id in sdk:
            card = sdk[function.app_id]
        elif runtime == RUNTIME_NATIVE:
            card = native.setdefault(function.app_id, AppCard(app_id=function.app_id, runtime=RUNTIME_NATIVE))
        else:  # an SDK function whose app row is gone: still listed, without a URL to sync
            card = sdk.setdefault(function.app_id, AppCard(app_id=function.app_id, runtime=runtime))
        card.functions.append(function_card(function))
    return sorted(sdk.values(), key=lambda c: c.app_id), list(native.values())


def runtimes(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(app id, function id) -> runtime for these functions in one query (missing functions: not in the map)."""
    wanted = set(pairs)
    if not wanted:
        return {}
    where = Q()
    for app_id in {app for app, _ in wanted}:
        where |= Q(app_id=app_id, function_id__in=sorted(fn for app, fn in wanted if app == app_id))
    rows = Function.objects.filter(where).values_list("app_id", "function_id", "config")
    return {(app_id, function_id): runtime_of(config if isinstance(config, dict) else {})
            for app_id, function_id, config in rows}
