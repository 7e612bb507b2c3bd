"""One function's configuration as an SDK registers it (protocol document section 3), mapped onto the stored
Function row: the flow control the engine enforces in the native formats (runs/sdk/flow.py `config()`), and
every option it does not enforce named in `unsupported`, so nothing is ignored silently.

Pure: no I/O, no layer imported. Every shape either SDK can send is read: inngest-py always sends `concurrency` as
a list; inngest-js sends it as written, and its types allow a bare number (the limit), an object or a list
(inngest 3 and 4 `functionConfigSchema`); py strips nulls, js omits them. Every other option is an object (or,
for `idempotency`, a string) in both SDKs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from runs.inngest import cel
from runs.inngest.protocol import duration
from runs.limits import MAX_NAME_CHARS

# No `retries` key: Inngest's default retry count (Go `consts.DefaultRetryCount`).
DEFAULT_RETRIES = 4
# The most retries Inngest accepts (Go `consts.MaxRetries`); more is a config error, as in Inngest.
MAX_RETRIES = 20

# A key the engine can evaluate is a dotted path into the event (runs.values.lookup_path); Inngest keys are
# CEL, and `event.data.user_id` is both. Anything richer is flagged instead of enforced with a wrong key.
_DOTTED_KEY = re.compile(r"^event\.(data|user|name|id)(\.[A-Za-z_][A-Za-z0-9_]*)*$")

# Inngest's `idempotency`: at most one run per key value per this long (Go `consts.FunctionIdempotencyPeriod`).
IDEMPOTENCY_PERIOD_MS = 24 * 60 * 60 * 1000

# Options that appear in a registered config and that the engine does not enforce: the label they get.
_NOT_ENFORCED = {
    "throttle": "throttle",
    "batchEvents": "batchEvents",
    "priority": "priority",
    "timeouts": "timeouts",
    "singleton": "singleton",
}
# Keys read by this module, or harmless (no behaviour of a run depends on them).
_KNOWN = {"id", "name", "triggers", "steps", "concurrency", "rateLimit", "debounce", "cancel", "retries",
          "idempotency"}

# Tributary never emits this event (only inngest/function.finished): a failure handler trigger never fires.
_FUNCTION_FAILED = "inngest/function.failed"


class ConfigError(ValueError):
    """A registered function config that cannot be stored: names the function and the field."""


@dataclass(frozen=True, slots=True)
class MappedFunction:
    """What the store writes for one registered function."""

    function_id: str  # the composite id without the "<app id>-" prefix
    trigger: str  # its first event trigger, "" if none
    config: dict[str, Any] = field(default_factory=dict)


def map_function(raw: Any, *, app_id: str, runtime: str) -> MappedFunction:
    """The stored form of one registered function config; ConfigError for one that is invalid."""
    if not isinstance(raw, dict):
        raise ConfigError(f"each function must be an object, not {type(raw).__name__}")
    composite = raw.get("id")
    if not isinstance(composite, str) or not composite:
        raise ConfigError("a function has no string 'id'")
    where = f"function {composite!r}"
    prefix = f"{app_id}-"
    if not composite.startswith(prefix) or len(composite) == len(prefix):
        raise ConfigError(f"{where}: 'id' must be '<app id>-<function id>' with app id {app_id!r}")
    function_id = composite[len(prefix):]
    if len(function_id) > MAX_NAME_CHARS:
        raise ConfigError(f"{where}: the function id is longer than {MAX_NAME_CHARS} characters")
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{where}: 'name' must be a string")
    url, retries = _step(raw.get("steps"), where)
    unsupported: list[str] = []
    trigger, triggers = _triggers(raw.get("triggers"), where, unsupported)
    concurrency = _concurrency(raw.get("concurrency"), where, unsupported)
    rate_limit = _rate_limit(raw.get("rateLimit"), where, unsupported)
    idempotency = _idempotency(raw.get("idempotency"), where, unsupported, rate_limit=rate_limit)
    config: dict[str, Any] = {
        "retries": retries,
        "concurrency": concurrency,
        "rate_limit": rate_limit or idempotency,
        "debounce": _debounce(raw.get("debounce"), where, unsupported),
        "cancel_on": _cancel(raw.get("cancel"), where),
        "runtime": runtime,
        "url": url,
        "name": name or function_id,
        "triggers": triggers,
        # The routed trigger's `expression` (CEL over `event`): intake starts a run only when it holds.
        "trigger_expression": _routed_expression(triggers, trigger),
        "unsupported": unsupported,
        "inngest": raw,
    }
    for key, label in _NOT_ENFORCED.items():
        if raw.get(key) not in (None, [], {}):
            unsupported.append(f"{label}: not enforced")
    for key in sorted(set(raw) - _KNOWN - set(_NOT_ENFORCED)):
        if raw[key] not in (None, [], {}):
            unsupported.append(f"{key}: not enforced (unknown option)")
    return MappedFunction(function_id=function_id, trigger=trigger, config=config)


def origin(url: str) -> str | None:
    """`scheme://host:port` of an http(s) URL, lower-cased and with the default port filled in, so that two
    spellings of one origin compare equal; None for a URL without a host or with a port that is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # an out-of-range port, a malformed IPv6 literal
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or port == 0:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{scheme}://{host}:{port or (443 if scheme == 'https' else 80)}"


def _step(steps: Any, where: str) -> tuple[str, int]:
    """The call URL and the retry count, from `steps.step` (`retries.attempts` is a retry count)."""
    step = steps.get("step") if isinstance(steps, dict) else None
    if not isinstance(step, dict):
        raise ConfigError(f"{where}: 'steps.step' is missing")
    runtime = step.get("runtime")
    url = runtime.get("url") if isinstance(runtime, dict) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: 'steps.step.runtime.url' must be an http(s) URL")
    retries = step.get("retries")
    if retries is None:
        return url, DEFAULT_RETRIES
    attempts = retries.get("attempts") if isinstance(retries, dict) else None
    if attempts is None:
        return url, DEFAULT_RETRIES
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 0 <= attempts <= MAX_RETRIES:
        raise ConfigError(f"{where}: 'steps.step.retries.attempts' must be an integer from 0 to {MAX_RETRIES}")
    return url, attempts


def _triggers(raw: Any, where: str, unsupported: list[str]) -> tuple[str, list[Any]]:
    """The event the engine routes by (the first event trigger) and the raw list; the rest is flagged."""
    if raw is None:
        return "", []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: 'triggers' must be a list")
    trigger = ""
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: triggers[{index}] must be an object")
        if isinstance(item.get("cron"), str) and item["cron"]:
            unsupported.append(f"cron trigger {item['cron']!r}: not enforced")
            continue
        event = item.get("event")
        if not isinstance(event, str) or not event:
            raise ConfigError(f"{where}: triggers[{index}] needs an 'event' or a 'cron'")
        if len(event) > MAX_NAME_CHARS:
            raise ConfigError(f"{where}: triggers[{index}].event is longer than {MAX_NAME_CHARS} characters")
        expression = item.get("expression")
        if expression is not None:
            _check_cel(expression, f"{where}: triggers[{index}].expression")
        if trigger:
            unsupported.append(f"event trigger {event!r}: not enforced (only the first event trigger, "
                               f"{trigger!r}, starts runs)")
            continue
        trigger = event
        if event == _FUNCTION_FAILED:
            unsupported.append(f"trigger {event!r}: Tributary does not emit this event, so this failure "
                               "handler never runs")
    return trigger, raw


def _routed_expression(triggers: list[Any], trigger: str) -> str | None:
    for item in triggers:
        if isinstance(item, dict) and item.get("event") == trigger:
            return item.get("expression") or None
    return None


def _check_cel(expression: Any, what: str) -> str:
    if not isinstance(expression, str) or not expression.strip():
        raise ConfigError(f"{what} must be a non-empty CEL expression")
    try:
        cel.check(expression)
    except cel.ExpressionError as exc:
        raise ConfigError(f"{what}: {exc}") from None
    return expression


def _ms(value: Any, what: str, *, optional: bool = False) -> int | None:
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{what} is missing")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{what} must be a time string like '5s', '1m' or '1h30m', not {value!r}")
    try:
        ms = int(duration(value, what).total_seconds() * 1000)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: {str(exc).removeprefix(what + ': ')}") from None
    if ms <= 0:
        raise ConfigError(f"{what} must be a positive duration, not {value!r}")
    return ms


def _positive_int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{what} must be an integer >= 1, not {value!r}")
    return value


def _key(raw: dict[str, Any], what: str, where: str, unsupported: list[str]) -> tuple[bool, str | None]:
    """(enforceable, dotted key): a key that is CEL beyond a dotted event path is flagged, not enforced."""
    key = raw.get("key")
    if key is None:
        return True, None
    _check_cel(key, f"{where}: {what}.key")
    if _DOTTED_KEY.match(key.strip()):
        return True, key.strip()
    unsupported.append(f"{what} with key {key!r}: not enforced (keys must be event paths like 'event.data.id')")
    return False, None


def _concurrency(raw: Any, where: str, unsupported: list[str]) -> dict[str, Any] | None:
    """One limit with an optional key is enforced (the engine's S17): the first; the rest are flagged. A bare
    number n (inngest-js `concurrency: 5`, alone or in the list) is `{"limit": n}`."""
    if raw is None:
        return None
    limits = raw if isinstance(raw, list) else [raw]
    rules = []
    for index, item in enumerate(limits):
        what = f"{where}: concurrency[{index}]" if isinstance(raw, list) else f"{where}: concurrency"
        if isinstance(item, int | float) and not isinstance(item, bool):
            item = {"limit": item}
        if not isinstance(item, dict):
            raise ConfigError(f"{what} must be a number or an object with a 'limit'")
        limit = item.get("limit")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ConfigError(f"{what}.limit must be an integer >= 0, not {limit!r}")
        if limit > 0:  # Inngest: 0 = no limit of its own
            rules.append(item)
    if not rules:
        return None
    if len(rules) > 1:
        unsupported.append(f"concurrency: only the first of {len(rules)} limits is enforced")
    first = rules[0]
    enforceable, key = _key(first, "concurrency", where, unsupported)
    for later in rules[1:]:
        if later.get("key") is not None:
            _check_cel(later["key"], f"{where}: concurrency.key")
    if not enforceable:
        return None
    scope = first.get("scope")
    if scope not in (None, "fn"):
        unsupported.append(f"concurrency scope {scope!r}: enforced per function only")
    return {"limit": first["limit"], "key": key}


def _rate_limit(raw: Any, where: str, unsupported: list[str]) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: rateLimit must be an object")
    limit = _positive_int(raw.get("limit"), f"{where}: rateLimit.limit")
    period_ms = _ms(raw.get("period"), f"{where}: rateLimit.period")
    enforceable, key = _key(raw, "rateLimit", where, unsupported)
    return {"limit": limit, "period_ms": period_ms, "key": key} if enforceable else None


def _idempotency(raw: Any, where: str, unsupported: list[str], *,
                 rate_limit: dict[str, Any] | None) -> dict[str, Any] | None:
    """`idempotency` (a CEL key): at most one run per key value per 24 hours, which is the engine's keyed rate
    limit of 1 per 24 h (the events past it are skipped, as Inngest drops them). The engine keeps one rate limit
    per function (a run has one rate key): with an enforced `rateLimit` too, idempotency is flagged instead."""
    if raw is None or raw == "":
        return None
    key = _check_cel(raw, f"{where}: idempotency")
    if rate_limit is not None:
        unsupported.append("idempotency: not enforced (the function's rateLimit is, and Tributary enforces one "
                           "rate limit per function)")
        return None
    enforceable, path = _key({"key": key}, "idempotency", where, unsupported)
    return {"limit": 1, "period_ms": IDEMPOTENCY_PERIOD_MS, "key": path} if enforceable else None


def _debounce(raw: Any, where: str, unsupported: list[str]) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: debounce must be an object")
    period_ms = _ms(raw.get("period"), f"{where}: debounce.period")
    timeout_ms = _ms(raw.get("timeout"), f"{where}: debounce.timeout", optional=True)
    enforceable, key = _key(raw, "debounce", where, unsupported)
    return {"period_ms": period_ms, "key": key, "timeout_ms": timeout_ms} if enforceable else None


def _cancel(raw: Any, where: str) -> list[dict[str, Any]]:
    """`cancel` (js `cancelOn`) -> cancel-on rules matched by CEL (`if`), not by a dotted `match`."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: cancel must be a list")
    rules = []
    for index, item in enumerate(raw):
        what = f"{where}: cancel[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{what} must be an object")
        event = item.get("event")
        if not isinstance(event, str) or not event or len(event) > MAX_NAME_CHARS:
            raise ConfigError(f"{what}.event must be an event name of at most {MAX_NAME_CHARS} characters")
        expression = item.get("if")
        if expression is not None:
            _check_cel(expression, f"{what}.if")
        rules.append({"event": event, "match": None, "timeout_ms": _ms(item.get("timeout"), f"{what}.timeout",
                                                                          optional=True),
                      "expression": expression})
    return rules
