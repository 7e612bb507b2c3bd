"""Values crossing a run or step boundary are JSON with the standard library's semantics (S6).

A neutral module: the SDK checks outputs with it, the store checks event data and reads dotted paths.
"""

from __future__ import annotations

import json
import re
from typing import Any

from runs.exceptions import LimitExceeded, SerializationError

MAX_OUTPUT_BYTES = 4 * 1024 * 1024
# Objects and arrays nested deeper than this are refused (event data at intake, step outputs, return values and
# invoke data here): reading them back goes through recursive code (dataclasses.asdict, JSON encoders) that a
# few hundred levels would take past Python's recursion limit, so a page showing such a value could never render.
MAX_JSON_DEPTH = 64
# A JSON-escaped NUL: "\u0000" preceded by an even number of backslashes (else it is an escaped backslash).
# PostgreSQL's jsonb cannot hold U+0000, so such a value would fail at commit, after the step ran.
JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def nesting_depth(value: Any, *, stop_above: int | None = None) -> int:
    """How deeply dicts and lists/tuples nest in `value` (a scalar is 0, `{}` and `[]` are 1, `[{}]` is 2).

    Iterative, so any depth is measured without recursion; with `stop_above`, it returns as soon as the depth
    passes that bound (the answer is then `stop_above + 1`) instead of walking the rest of the value."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if stop_above is not None and deepest > stop_above:
                return deepest
        pending.extend((child, depth) for child in children)
    return deepest


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if objects/arrays in `value` nest deeper than `limit` (intake and step outputs share this check)."""
    return nesting_depth(value, stop_above=limit) > limit


def json_roundtrip(value: Any, what: str) -> Any:
    """`json.loads(json.dumps(value))`, or a SerializationError naming `what` and the offending type."""
    if too_deep(value):
        raise LimitExceeded(f"{what} nests objects or arrays deeper than {MAX_JSON_DEPTH} levels")
    try:
        # allow_nan=False: NaN and Infinity are not JSON, and no database JSON column takes them.
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SerializationError(f"{what} is not JSON-serialisable: {exc}") from None
    if JSON_NUL.search(text):
        raise SerializationError(f"{what} contains a NUL character (\\u0000), which cannot be stored")
    if "\\ud" in text:  # a UTF-16 surrogate escape: a pair is one character, half of one is not text
        try:
            utf8_json(value)
        except UnicodeEncodeError:
            raise SerializationError(f"{what} contains a lone surrogate (half of a UTF-16 pair, e.g. \\ud83d), "
                                     f"which is not text and cannot be stored") from None
    if len(text.encode()) > MAX_OUTPUT_BYTES:
        # A size limit, not a type problem (S20): LimitExceeded, which is non-retriable too.
        raise LimitExceeded(f"{what} is {len(text.encode())} bytes; the limit is {MAX_OUTPUT_BYTES} (4 MiB)")
    return json.loads(text)


def utf8_json(value: Any) -> str:
    """`value` as JSON text, not ASCII-escaped, every character of which encodes as UTF-8. ValueError for what a
    database cannot store: NaN or Infinity, and a lone surrogate ("\\ud800", which `json.loads` accepts):
    UnicodeEncodeError here, not from the database driver mid-transaction. TypeError for a value not JSON."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    text.encode()
    return text


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
