"""Query-string parameters of the dashboard (filters, cursors, limits): parsed strictly, pure, no I/O.

Anything malformed raises BadParameter with a message meant for the operator, so the API answers 400.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dashboard.exceptions import BadParameter
from runs.status import RunStatus

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_ID_LENGTH = 200
_SINCE = re.compile(r"^(\d{1,6})([smhdw])$")
_SINCE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_SINCE = timedelta(days=3650)
_DIGITS = re.compile(r"[0-9]{1,9}")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFilters:
    """What the runs page and GET /api/runs filter on (every field optional; all of them are ANDed)."""

    status: str | None = None
    app: str | None = None
    function: str | None = None
    since: timedelta | None = None
    root_only: bool = False
    q: str | None = None  # a function id, an event name, or a run/event id prefix
    data: tuple[tuple[str, object], ...] = ()  # event_data must hold each key with this value (JSON containment)
    start: datetime | None = None  # `from`: created at or after
    end: datetime | None = None  # `to`: created before

    def narrows(self) -> bool:
        """Whether anything but root_only is set (the runs page shows root runs only when nothing is)."""
        return bool(self.status or self.app or self.function or self.since or self.q or self.data
                    or self.start or self.end)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cursor:
    """Keyset position in a newest-first list: the (timestamp, id) of the last row shown."""

    at: datetime
    id: str
    newer: bool = False  # a "previous page" cursor: the rows newer than (at, id)


def run_filters(params: Mapping[str, str]) -> RunFilters:
    status = _text(params, "status")
    if status is not None and status not in RunStatus.values:
        raise BadParameter(f"status must be one of {', '.join(RunStatus.values)} (got {status[:40]!r})")
    since_text = _text(params, "since")
    start, end = moment(params, "from"), moment(params, "to")
    if start is not None and end is not None and start >= end:
        raise BadParameter(f"from must be before to (got from={start.isoformat()}, to={end.isoformat()})")
    return RunFilters(status=status, app=_text(params, "app"), function=_text(params, "function"),
                      since=parse_since(since_text) if since_text else None,
                      root_only=flag(params, "root_only"), q=_text(params, "q"),
                      data=data_pairs(_all(params, "data")), start=start, end=end)


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilters:
    """What the Events page and GET /api/events filter on (all optional, ANDed)."""

    name: str | None = None  # exactly this event name
    q: str | None = None  # an event id prefix
    start: datetime | None = None  # `from`: received at or after
    end: datetime | None = None  # `to`: received before

    def narrows(self) -> bool:
        return bool(self.name or self.q or self.start or self.end)


def event_filters(params: Mapping[str, str]) -> EventFilters:
    start, end = moment(params, "from"), moment(params, "to")
    if start is not None and end is not None and start >= end:
        raise BadParameter(f"from must be before to (got from={start.isoformat()}, to={end.isoformat()})")
    return EventFilters(name=_text(params, "name"), q=_text(params, "q"), start=start, end=end)


MAX_DATA_PAIRS = 10


def data_pairs(texts: list[str]) -> tuple[tuple[str, object], ...]:
    """`key=value` filters on event_data. The value is read as JSON when it parses (`user=42` is the number 42,
    `ok=true` the boolean, `tags=["a"]` a list), else as a string (`plan=pro`); quote to force a string
    (`user="42"`). A key is one top-level key of the event's data."""
    texts = [text for text in texts if text.strip()]
    if len(texts) > MAX_DATA_PAIRS:
        raise BadParameter(f"at most {MAX_DATA_PAIRS} data filters (got {len(texts)})")
    pairs = []
    for text in texts:
        if len(text) > MAX_ID_LENGTH or not storable_id(text):
            raise BadParameter(f"data filter is too long or not valid text: {text[:40]!r}")
        key, sep, raw = text.strip().partition("=")
        key = key.strip()
        if not sep or not key:
            raise BadParameter(f"data must look like key=value (got {text[:40]!r})")
        try:
            value: object = json.loads(raw)
        except (ValueError, RecursionError):
            value = raw
        if not _comparable(value):
            raise BadParameter(f"data value is out of range for comparison: {raw[:40]!r}")
        pairs.append((key, value))
    return tuple(pairs)


def _comparable(value: object) -> bool:
    """JSON both databases compare: no NaN or Infinity (PostgreSQL jsonb refuses them), integers that fit
    64 bits (SQLite's limit). json.loads bounds the depth (RecursionError above)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    if isinstance(value, list):
        return all(_comparable(item) for item in value)
    if isinstance(value, dict):
        return all(_comparable(item) for item in value.values())
    return False


def moment(params: Mapping[str, str], name: str) -> datetime | None:
    """An ISO 8601 date-time (a date alone is its midnight); without an offset it is UTC."""
    text = _text(params, name)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace(" ", "T", 1) if len(text) > 10 else text)
    except ValueError:
        raise BadParameter(f"{name} must be an ISO 8601 date-time like 2026-01-31T14:00:00Z (got {text[:40]!r})") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise BadParameter(f"{name} is out of range (got {text[:40]!r})") from None


def _all(params: Mapping[str, str], name: str) -> list[str]:
    getlist = getattr(params, "getlist", None)  # a QueryDict repeats keys; a plain mapping holds one value
    if getlist is not None:
        return list(getlist(name))
    value = params.get(name)
    return [value] if value else []


def parse_since(text: str) -> timedelta:
    """'15m', '1h', '24h', '7d' (also s and w) -> a timedelta."""
    match = _SINCE.match(text.strip())
    if match is None:
        raise BadParameter(f"since must look like 15m, 1h, 24h or 7d (got {text[:40]!r})")
    value = timedelta(**{_SINCE_UNITS[match.group(2)]: int(match.group(1))})
    if value <= timedelta(0) or value > MAX_SINCE:
        raise BadParameter(f"since must be between 1s and {MAX_SINCE.days} days (got {text!r})")
    return value


def flag(params: Mapping[str, str], name: str) -> bool:
    value = (params.get(name) or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadParameter(f"{name} must be 1 or 0 (got {value[:40]!r})")


MIN_PAGE_SIZE = 10


def page_size(params: Mapping[str, str], default: int = DEFAULT_LIMIT) -> int:
    """`page_size` (10..500) or the older `limit` (1..500); not both."""
    text = (params.get("page_size") or "").strip()
    if not text:
        return limit(params, default)
    if (params.get("limit") or "").strip():
        raise BadParameter("give page_size or limit, not both")
    if not _DIGITS.fullmatch(text) or not MIN_PAGE_SIZE <= int(text) <= MAX_LIMIT:
        raise BadParameter(f"page_size must be a whole number from {MIN_PAGE_SIZE} to {MAX_LIMIT} (got {text[:40]!r})")
    return int(text)


def limit(params: Mapping[str, str], default: int = DEFAULT_LIMIT) -> int:
    text = (params.get("limit") or "").strip()
    if not text:
        return default
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= MAX_LIMIT:
        raise BadParameter(f"limit must be a whole number from 1 to {MAX_LIMIT} (got {text[:40]!r})")
    return int(text)


def cursor(params: Mapping[str, str]) -> Cursor | None:
    text = (params.get("cursor") or "").strip()
    return decode_cursor(text) if text else None


def encode_cursor(at: datetime, row_id: str, *, newer: bool = False) -> str:
    """Opaque to clients: base64url of [iso timestamp, id] (a previous-page cursor adds 1)."""
    raw = json.dumps([at.isoformat(), row_id, 1] if newer else [at.isoformat(), row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    """The cursor `encode_cursor` made, or BadParameter: anything a client can forge must fail here, not in the
    database (a moment that overflows when converted to UTC, an id no column can hold)."""
    refused = BadParameter("cursor is not one this server gave out; start again without it")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        at_text, row_id, *rest = json.loads(raw)
        if rest not in ([], [1]):
            raise refused
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None:
            raise refused
        # In UTC: PostgreSQL takes no offset beyond 15:59, and year 1 at +01:00 has no UTC moment (OverflowError).
        at = at.astimezone(UTC)
    except (binascii.Error, ValueError, TypeError, OverflowError, RecursionError) as exc:  # JSON, unicode too
        raise refused from exc
    if not isinstance(row_id, str) or not storable_id(row_id):
        raise refused
    return Cursor(at=at, id=row_id, newer=bool(rest))


def storable_id(value: str) -> bool:
    """An id the database can compare with: not too long, no NUL (PostgreSQL), no lone surrogate (UTF-8)."""
    if len(value) > MAX_ID_LENGTH or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def run_id_param(params: Mapping[str, str], name: str) -> str | None:
    return _text(params, name)


def _text(params: Mapping[str, str], name: str) -> str | None:
    value = (params.get(name) or "").strip()
    if len(value) > MAX_ID_LENGTH:
        raise BadParameter(f"{name} is longer than {MAX_ID_LENGTH} characters")
    if "\x00" in value:
        raise BadParameter(f"{name} contains a NUL character")
    return value or None
