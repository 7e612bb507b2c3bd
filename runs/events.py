"""Events as intake takes them: validation and normalisation, and the reserved event names.

A neutral module (no database): intake (runs.store.intake) stores what this returns, and the SDK's
`step.send_event` validates with it before the event is recorded as a step.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from runs import conf
from runs.exceptions import IntakeLimitExceeded, InvalidEvent
from runs.limits import MAX_NAME_CHARS
from runs.values import JSON_NUL, MAX_JSON_DEPTH, too_deep, utf8_json

RESERVED_PREFIX = "inngest/"
FUNCTION_FINISHED = "inngest/function.finished"
FUNCTION_INVOKED = "inngest/function.invoked"

MAX_EVENT_BYTES = 512 * 1024


def max_events_per_request() -> int:
    """RUNS_INTAKE_MAX_EVENTS: the events one request (or one send_many) may carry."""
    return int(conf.get("RUNS_INTAKE_MAX_EVENTS"))


def normalise_events(events: Sequence[Any], *, internal: bool = False) -> list[dict[str, Any]]:
    """Validated copies of `events` with id and ts filled in; InvalidEvent names the first problem."""
    if not isinstance(events, list | tuple) or not events:
        raise InvalidEvent("expected an event or a non-empty list of events")
    if len(events) > max_events_per_request():
        # One transaction stores them all: a bound keeps it (and the runs it starts) reasonably small.
        raise IntakeLimitExceeded(f"{len(events)} events in one request; the limit is {max_events_per_request()} "
                                  "(RUNS_INTAKE_MAX_EVENTS)")
    result = []
    for index, event in enumerate(events):
        where = f"event {index}" if len(events) > 1 else "event"
        if not isinstance(event, dict):
            raise InvalidEvent(f"{where} must be an object, not {type(event).__name__}")
        name = event.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InvalidEvent(f"{where} needs a non-empty string 'name'")
        if len(name) > MAX_NAME_CHARS:
            raise InvalidEvent(f"{where}: 'name' is longer than {MAX_NAME_CHARS} characters")
        if name.startswith(RESERVED_PREFIX) and not internal:
            raise InvalidEvent(f"{where}: names starting with {RESERVED_PREFIX!r} are reserved")
        data = event.get("data")
        data = {} if data is None else data
        user = event.get("user")
        user = {} if user is None else user
        if not isinstance(data, dict):
            raise InvalidEvent(f"{where}: 'data' must be an object, not {type(data).__name__}")
        if not isinstance(user, dict):
            raise InvalidEvent(f"{where}: 'user' must be an object, not {type(user).__name__}")
        for field, value in (("data", data), ("user", user)):
            if too_deep(value):
                raise InvalidEvent(f"{where}: '{field}' nests objects or arrays deeper than {MAX_JSON_DEPTH} levels")
        event_id = event.get("id") or uuid.uuid4().hex
        if not isinstance(event_id, str) or len(event_id) > 64:
            raise InvalidEvent(f"{where}: 'id' must be a string of at most 64 characters")
        ts = event.get("ts") or int(time.time() * 1000)
        if not isinstance(ts, int) or isinstance(ts, bool) or not 0 <= ts < 2**63:
            raise InvalidEvent(f"{where}: 'ts' must be integer milliseconds since the epoch")
        clean = {"id": event_id, "name": name, "data": data, "user": user, "ts": ts}
        try:
            text = utf8_json(clean)  # a lone surrogate fails here instead of in the database
            size = len(text.encode())
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidEvent(f"{where}: data is not JSON: {exc}") from None
        if JSON_NUL.search(text):
            # PostgreSQL text and jsonb cannot hold U+0000.
            raise InvalidEvent(f"{where} contains a NUL character (\\u0000), which cannot be stored")
        if size > MAX_EVENT_BYTES:
            raise IntakeLimitExceeded(f"{where} is {size} bytes; the limit is {MAX_EVENT_BYTES} (512 KiB)")
        result.append(json.loads(json.dumps(clean)))
    return result


