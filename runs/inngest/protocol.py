"""Call Requests and SDK answers as data (protocol document sections 5-8): what the HTTP driver sends to an
SDK app and how it reads what comes back. Pure functions; the driver does the I/O."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from runs.durations import parse_duration
from runs.limits import MAX_ERROR_MESSAGE_CHARS, MAX_ERROR_STACK_CHARS, MAX_NAME_CHARS, shortened
from runs.values import storable_text

# "Let the SDK pick its execution version" (inngest-js 3 picks 1, 4 picks 2; inngest-js refuses 0). The
# driver sends back the X-Inngest-Req-Version an SDK answered, for the rest of the pass.
DEFAULT_VERSION = -1

# What the memo of each kind of step looks like to an SDK: {"data": x} / {"error": e}, null for a sleep,
# the raw event (or null) for a wait.
_WRAPPED = ("run", "invoke", "send_event")


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoEntry:
    """One settled step, as the SDK is to see it."""

    step_id: str
    kind: str
    position: int
    output: Any = None
    error: dict[str, Any] | None = None


# Failures the engine decides on, in Inngest's words (SDK code may compare the name or the message); the
# dashboard keeps Tributary's own, more specific message.
_INNGEST_WORDS = {"InvokeTimeoutError": ("InngestInvokeTimeoutError",
                                         "Timed out waiting for invoked function to complete")}


def sdk_error(error: dict[str, Any] | None) -> dict[str, Any]:
    """A stored error in the SDKs' shape ({name, message, stack}); they re-raise it as a StepError."""
    error = error or {}
    name = error.get("name") or "Error"
    inngest_name, inngest_message = _INNGEST_WORDS.get(name, (name, None))
    shaped = {"name": inngest_name, "message": inngest_message or error.get("message") or ""}
    if error.get("stack"):
        shaped["stack"] = error["stack"]
    return shaped


def memo_value(entry: MemoEntry) -> Any:
    if entry.kind in _WRAPPED:
        return {"error": sdk_error(entry.error)} if entry.error is not None else {"data": entry.output}
    if entry.kind == "sleep":
        return None
    return entry.output  # wait_for_event: the matched event, or None after the timeout


def call_body(*, event: dict[str, Any], memo: list[MemoEntry], run_id: str, attempt: int, max_attempts: int,
              disable_immediate_execution: bool, step_id: str, version: int = DEFAULT_VERSION) -> dict[str, Any]:
    """A Call Request body both SDKs accept (section 5): every field the strict one needs, no `ctx.fn_id`
    (which would switch inngest-js 4 to checkpointing we do not serve)."""
    ordered = sorted(memo, key=lambda entry: entry.position)
    stack = [entry.step_id for entry in ordered]
    sdk_event = {"id": event["id"], "name": event["name"], "data": event.get("data") or {},
                 "user": event.get("user") or {}, "ts": int(event.get("ts") or 0)}
    return {
        "event": sdk_event,
        "events": [sdk_event],
        "steps": {entry.step_id: memo_value(entry) for entry in ordered},
        "ctx": {"run_id": run_id, "attempt": attempt, "max_attempts": max_attempts,
                "disable_immediate_execution": disable_immediate_execution, "use_api": False,
                "stack": {"stack": stack, "current": len(stack)}, "env": "tributary", "step_id": step_id},
        "version": version,
        "use_api": False,
    }


class ProtocolError(ValueError):
    """An answer that does not follow the protocol (not JSON, not a list of ops, an unknown opcode)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    """One opcode of a 206 answer."""

    op: str
    id: str
    display_name: str
    name: str = ""
    opts: dict[str, Any] = field(default_factory=dict)
    data: Any = None
    error: dict[str, Any] | None = None


KNOWN_OPS = {"StepRun", "StepPlanned", "StepError", "StepFailed", "Sleep", "WaitForEvent", "InvokeFunction",
             "RunComplete"}


def parse_json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(f"{what} is not JSON: {body[:200]!r}") from None


def parse_ops(body: bytes) -> list[Op]:
    """The ops of a 206 answer, each checked for the fields the driver relies on."""
    raw = parse_json(body, "the SDK's 206 answer")
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise ProtocolError(f"the SDK's 206 answer is not a list of ops: {str(raw)[:200]}")
    ops = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("op"), str):
            raise ProtocolError(f"an op without an opcode: {str(item)[:200]}")
        if item["op"] not in KNOWN_OPS:
            raise ProtocolError(f"opcode {item['op']!r} is not supported by Tributary (supported: "
                                f"{', '.join(sorted(KNOWN_OPS))})")
        step_id = item.get("id")
        if not isinstance(step_id, str) or not step_id:
            raise ProtocolError(f"op {item['op']} carries no step id")
        opts: dict[str, Any] = item["opts"] if isinstance(item.get("opts"), dict) else {}
        error = item.get("error") if isinstance(item.get("error"), dict) else None
        display = item.get("displayName") or item.get("name") or step_id
        ops.append(Op(op=item["op"], id=step_id, display_name=str(display), name=str(item.get("name") or ""),
                      opts=opts, data=item.get("data"), error=error))
    return ops


def error_from_body(body: bytes, status: int) -> dict[str, Any]:
    """The function error an SDK answered with (py {code, message, name, stack}; js {name, message, stack})."""
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raw = None
    if isinstance(raw, dict) and (raw.get("message") or raw.get("name")):
        return app_error(raw)
    text = body[:500].decode(errors="replace")
    return app_error({"name": "Error", "message": f"the app answered HTTP {status}: {text}"})


def app_error(raw: dict[str, Any] | None) -> dict[str, Any]:
    """An error an app reported ({name, message, stack}), as it can be stored: text every column takes, the
    name within MAX_NAME_CHARS, message and stack cut to their limits (runs/limits.py)."""
    raw = raw or {}
    stack = raw.get("stack")
    return {"name": _text(raw.get("name") or "Error", MAX_NAME_CHARS),
            "message": _text(raw.get("message") or "", MAX_ERROR_MESSAGE_CHARS),
            "stack": _text(stack, MAX_ERROR_STACK_CHARS) if isinstance(stack, str) and stack else None}


def _text(value: Any, limit: int) -> str:
    return shortened(storable_text(str(value)), limit)


def parse_instant(text: str) -> datetime | None:
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def sleep_until(op: Op, now: datetime) -> datetime:
    """A Sleep op's end: py names an absolute ISO instant, js a time string (sleepUntil: an ISO instant)."""
    target = op.name or str(op.opts.get("duration") or "")
    instant = parse_instant(target)
    if instant is not None:
        return instant
    return now + duration(target, f"sleep {op.display_name!r}")


_COMPOUND = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def duration(text: Any, what: str) -> timedelta:
    """An Inngest time string ("1s", "5m", "1h30m", "2d", "1 hour") or milliseconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return timedelta(milliseconds=text)
    compact = str(text).replace(" ", "")
    parts = _COMPOUND.findall(compact)
    if len(parts) > 1 and "".join(number + unit for number, unit in parts) == compact:
        return sum((parse_duration(number + unit) for number, unit in parts), timedelta())
    try:
        return parse_duration(str(text))
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"{what}: {exc}") from None


def retry_after(header: str | None, now: datetime) -> datetime | None:
    """`Retry-After`: py sends an ISO instant, js whole seconds."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return now + timedelta(seconds=int(header))
    return parse_instant(header)
