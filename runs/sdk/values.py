"""Values crossing a run or step boundary are JSON with the standard library's semantics (S6)."""

from __future__ import annotations

import json
import re
import traceback
from typing import Any

from runs.exceptions import LimitExceeded, SerializationError, StepError

MAX_OUTPUT_BYTES = 4 * 1024 * 1024
# A JSON-escaped NUL: "\u0000" preceded by an even number of backslashes (else it is an escaped backslash).
# PostgreSQL's jsonb cannot hold U+0000, so such a value would fail at commit, after the step ran.
JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def json_roundtrip(value: Any, what: str) -> Any:
    """`json.loads(json.dumps(value))`, or a SerializationError naming `what` and the offending type."""
    try:
        # allow_nan=False: NaN and Infinity are not JSON, and no database JSON column takes them.
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SerializationError(f"{what} is not JSON-serialisable: {exc}") from None
    if JSON_NUL.search(text):
        raise SerializationError(f"{what} contains a NUL character (\\u0000), which cannot be stored")
    if len(text.encode()) > MAX_OUTPUT_BYTES:
        # A size limit, not a type problem (S20): LimitExceeded, which is non-retriable too.
        raise LimitExceeded(f"{what} is {len(text.encode())} bytes; the limit is {MAX_OUTPUT_BYTES} (4 MiB)")
    return json.loads(text)


def error_dict(exc: BaseException) -> dict[str, Any]:
    """The stored form of an error: name, message, stack (and the class to raise it again on replay)."""
    if isinstance(exc, StepError):
        return {"name": exc.name, "message": exc.message, "stack": exc.stack, "type": type(exc).__name__,
                "run_id": exc.run_id}
    stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {"name": type(exc).__name__, "message": storable_text(str(exc)), "stack": storable_text(stack),
            "type": type(exc).__name__}


def storable_text(text: str) -> str:
    """Text every database column takes: no NUL (PostgreSQL refuses it), no lone surrogates."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def lookup_path(document: dict[str, Any], path: str | None) -> Any:
    """The value at a dotted path (`data.user_id`, `event.data.x`); a missing field is None."""
    if not path:
        return None
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value
