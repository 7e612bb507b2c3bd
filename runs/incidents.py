"""What makes two failures one incident (issue 11, item 6): pure functions, no database.

A failed root run belongs to the incident of its root cause's signature: the root cause's app and function, the
step that failed (none: the body), the error's type and its message with the parts that differ from one failure
to the next folded away (numbers, hex, UUIDs, run ids, quoted values), so "timeout after 31 s" and "timeout after
12 s" are one incident. The store computes it once, when a root run ends failed (runs/store/incidents.py); pages
only read it.

Each incident also keeps hourly failure counts (`buckets`, {"<hour start, epoch seconds>": n}) for its sparkline.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

MAX_MESSAGE_CHARS = 300  # a normalised message is stored and shown; the rest of a long message tells nothing new
BUCKET_SECONDS = 3600
KEEP_BUCKETS = 7 * 24  # a week of hours per incident: the sparkline shows the last day
MAX_ROOT_FUNCTIONS = 20  # affected root functions named per incident

# Order matters: quoted values first (they may hold anything), then ids, then plain numbers.
_FOLDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"'[^'\n]*'"), "'…'"),
    (re.compile(r'"[^"\n]*"'), '"…"'),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b"), "<id>"),  # our run and event ids (runs/ids.py), ULIDs
    (re.compile(r"\b0[xX][0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),  # digests, addresses
    (re.compile(r"\d+(?:[.,]\d+)*"), "<n>"),
    (re.compile(r"\s+"), " "),
)


def normalise_message(message: str) -> str:
    """The message with what varies between occurrences folded: digits, hex, UUIDs/ULIDs, quoted values."""
    text = message or ""
    for pattern, replacement in _FOLDS:
        text = pattern.sub(replacement, text)
    return text.strip()[:MAX_MESSAGE_CHARS]


def signature_id(app_id: str, function_id: str, step_id: str | None, error_type: str, message: str) -> str:
    """The incident id: a digest of the root cause's function, failing step, error type and normalised message
    (`message` as `normalise_message` returns it)."""
    key = "\x1f".join([app_id, function_id, step_id or "", error_type, message])
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]


_INCIDENT_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")


def is_incident_id(value: str) -> bool:
    """Could name an incident (a signature id): anything else (too long, NUL, odd characters) names none, and is
    answered as unknown without reaching the database."""
    return bool(_INCIDENT_ID.fullmatch(value))


def bucket_of(when: datetime) -> str:
    return str(int(when.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS)


def count_in(buckets: dict[str, int], when: datetime) -> dict[str, int]:
    """The buckets with one more failure at `when`, the oldest dropped beyond KEEP_BUCKETS hours."""
    updated = dict(buckets or {})
    key = bucket_of(when)
    updated[key] = int(updated.get(key, 0)) + 1
    if len(updated) > KEEP_BUCKETS:
        newest = int(key)
        updated = {k: v for k, v in updated.items() if int(k) > newest - KEEP_BUCKETS * BUCKET_SECONDS}
    return updated


def series(buckets: dict[str, int], now: datetime, hours: int = 24) -> list[int]:
    """Failures per hour over the `hours` hours ending with the current one, oldest first."""
    last = int(bucket_of(now))
    return [int((buckets or {}).get(str(last - (hours - 1 - i) * BUCKET_SECONDS), 0)) for i in range(hours)]


def add_root_function(functions: list[str], key: str) -> list[str]:
    """The affected root functions ("app/function"), in order of first failure, capped."""
    if key in functions or len(functions) >= MAX_ROOT_FUNCTIONS:
        return list(functions)
    return [*functions, key]
