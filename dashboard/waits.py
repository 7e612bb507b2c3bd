"""What the run page offers on a waiting step (issue 11 item 10), as pure functions over its step rows: wake a
sleep, send the event a wait_for_event waits for (its name, and data prefilled so it matches), fail or cancel an
invoke wait. The actions themselves are the JSON API's (runs/api_actions.py) and the send-event form's."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from runs.models import Step
from runs.status import ACTIVE_RUN_STATUSES, StepKind, StepStatus
from runs.values import lookup_path

_DATA = "data."


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitOffer:
    """The actions a waiting step offers; for a wait_for_event, the event to send (prefilled)."""

    kind: str  # the step's kind: sleep, wait_for_event or invoke
    event_name: str = ""
    event_data: str = ""  # JSON text: a data skeleton that satisfies the step's match (or its `if`, where it can)
    match: str = ""  # `data.token == "abc"`, as the dialog states it
    expression: str = ""  # an SDK step's `if` (CEL), shown as it is
    note: str = ""  # what the prefill could not do


def wait_offers(run_status: str, steps: list[Step], run_event: dict[str, Any]) -> dict[str, WaitOffer]:
    """By step id, the offers of a run's waiting steps (none once the run is no longer active)."""
    if run_status not in ACTIVE_RUN_STATUSES:
        return {}
    offers = {}
    for step in steps:
        if step.status != StepStatus.WAITING:
            continue
        if step.kind in (StepKind.SLEEP, StepKind.INVOKE):
            offers[step.step_id] = WaitOffer(kind=step.kind)
        elif step.kind == StepKind.WAIT_FOR_EVENT and step.wait_event:
            offers[step.step_id] = event_offer(step.wait_event, step.wait_match, step.wait_value,
                                               step.wait_expression, run_event)
    return offers


def event_offer(name: str, match: str | None, value: Any, expression: str | None,
                run_event: dict[str, Any]) -> WaitOffer:
    """The event that resolves a wait: `match` is a path into the incoming event that must equal `value` (the
    run's own value at that path); `expression` a CEL condition over `event` (the run's) and
    `async` (the incoming one), from which equalities on `async.data.*` are prefilled and the rest left null."""
    data: dict[str, Any] = {}
    note, shown = "", ""
    if match:
        shown = f"{match} == {json.dumps(value)}"
        if match.startswith(_DATA):
            _put(data, match[len(_DATA):], value)
        else:
            note = f"the match is on {match}, which the form cannot set (it sends data only)"
    if expression:
        for path, wanted in expression_skeleton(expression, run_event).items():
            _put(data, path, wanted)
    return WaitOffer(kind=StepKind.WAIT_FOR_EVENT, event_name=name, event_data=json.dumps(data, indent=2),
                     match=shown, expression=expression or "", note=note)


_OPERAND = r"""(?:async|event)(?:\.\w+)+|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|-?\d+(?:\.\d+)?|true|false|null"""
_EQUALITY = re.compile(rf"({_OPERAND})\s*==\s*({_OPERAND})")
_ASYNC_DATA = re.compile(r"\basync\.data((?:\.\w+)+)")


def expression_skeleton(expression: str, run_event: dict[str, Any]) -> dict[str, Any]:
    """{path below data: value} for each `async.data.<path>` the expression reads: the other side of an `==`
    when that is a literal or the run's event (`event.data.x`), else None (the operator fills it in)."""
    found: dict[str, Any] = {m.group(1)[1:]: None for m in _ASYNC_DATA.finditer(expression)}
    for left, right in _EQUALITY.findall(expression):
        for mine, other in ((left, right), (right, left)):
            if mine.startswith("async.data."):
                found[mine[len("async.data."):]] = _operand_value(other, run_event)
    return found


def _operand_value(text: str, run_event: dict[str, Any]) -> Any:
    if text.startswith("event."):
        return lookup_path(run_event, text[len("event."):])
    if text.startswith("async."):
        return None
    try:
        if text[0] in "'\"":
            body = text[1:-1]
            return json.loads(f'"{body}"') if text[0] == '"' else body.replace("\\'", "'")
        return json.loads(text)  # a number, true, false or null
    except ValueError:  # an escape JSON does not know: the operator fills it in
        return None


def _put(data: dict[str, Any], path: str, value: Any) -> None:
    """Set `value` at a dotted path, making the objects on the way (an existing non-object is replaced)."""
    parts = path.split(".")
    here = data
    for part in parts[:-1]:
        if not isinstance(here.get(part), dict):
            here[part] = {}
        here = here[part]
    here[parts[-1]] = value
