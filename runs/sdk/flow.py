"""Flow control per function (S17-S19, cancel-on): what users pass to `@app.function(...)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runs.sdk.durations import Duration, parse_duration


def _check_key(key: str | None, what: str) -> None:
    if key is not None and (not isinstance(key, str) or not key.startswith(("event.data", "event.user", "event."))):
        raise ValueError(f"{what} key must be a dotted path from the event, like 'event.data.user_id', not {key!r}")


def _ms(value: Duration, what: str) -> int:
    try:
        ms = int(parse_duration(value).total_seconds() * 1000)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: {exc}") from None
    if ms <= 0:
        raise ValueError(f"{what} must be a positive duration")
    return ms


@dataclass(frozen=True, slots=True, kw_only=True)
class Concurrency:
    """At most `limit` runs execute at once (per value of `key`); the rest stay queued, in order (S17)."""

    limit: int
    key: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.limit, int) or self.limit < 1:
            raise ValueError("Concurrency(limit=...) must be an int >= 1")
        _check_key(self.key, "Concurrency")

    def config(self) -> dict[str, Any]:
        """The stored form of this rule (the function's config)."""
        return {"limit": self.limit, "key": self.key}


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """At most `limit` runs start per `period` (per value of `key`); the rest are skipped (S18)."""

    limit: int
    period: Duration
    key: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.limit, int) or self.limit < 1:
            raise ValueError("RateLimit(limit=...) must be an int >= 1")
        _ms(self.period, "RateLimit(period=...)")
        _check_key(self.key, "RateLimit")

    def config(self) -> dict[str, Any]:
        """The stored form of this rule (the function's config)."""
        return {"limit": self.limit, "period_ms": _ms(self.period, "period"), "key": self.key}


@dataclass(frozen=True, slots=True, kw_only=True)
class Debounce:
    """Start once events stop arriving for `period` (per `key`), with the last event; at most `timeout` late (S19)."""

    period: Duration
    key: str | None = None
    timeout: Duration | None = None

    def __post_init__(self) -> None:
        _ms(self.period, "Debounce(period=...)")
        if self.timeout is not None:
            _ms(self.timeout, "Debounce(timeout=...)")
        _check_key(self.key, "Debounce")

    def config(self) -> dict[str, Any]:
        """The stored form of this rule (the function's config)."""
        return {"period_ms": _ms(self.period, "period"), "key": self.key,
                "timeout_ms": _ms(self.timeout, "timeout") if self.timeout is not None else None}


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancel:
    """An incoming `event` cancels this function's active runs whose events agree on `match` (e.g. 'data.id')."""

    event: str
    match: str | None = None
    timeout: Duration | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.event, str) or not self.event:
            raise ValueError("Cancel(event=...) needs an event name")
        if self.timeout is not None:
            _ms(self.timeout, "Cancel(timeout=...)")

    def config(self) -> dict[str, Any]:
        """The stored form of this rule (the function's config)."""
        return {"event": self.event, "match": self.match,
                "timeout_ms": _ms(self.timeout, "timeout") if self.timeout is not None else None}
