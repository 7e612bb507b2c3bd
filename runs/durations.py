"""Durations as the SDK accepts them (S5): milliseconds, "1h"/"30 mins"/"2.5d", timedelta or datetime."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

Duration = int | float | str | timedelta | datetime

_UNIT_MS = {
    "ms": 1, "msec": 1, "msecs": 1, "millisecond": 1, "milliseconds": 1,
    "s": 1000, "sec": 1000, "secs": 1000, "second": 1000, "seconds": 1000,
    "m": 60_000, "min": 60_000, "mins": 60_000, "minute": 60_000, "minutes": 60_000,
    "h": 3_600_000, "hr": 3_600_000, "hrs": 3_600_000, "hour": 3_600_000, "hours": 3_600_000,
    "d": 86_400_000, "day": 86_400_000, "days": 86_400_000,
    "w": 604_800_000, "week": 604_800_000, "weeks": 604_800_000,
    "y": 31_557_600_000, "yr": 31_557_600_000, "yrs": 31_557_600_000, "year": 31_557_600_000,
    "years": 31_557_600_000,
}
_PATTERN = re.compile(r"^\s*(-?\d+(?:\.\d+)?|-?\.\d+)\s*([a-z]*)\s*$", re.IGNORECASE)

ONE_YEAR = timedelta(milliseconds=_UNIT_MS["y"])


def parse_duration(value: Duration) -> timedelta:
    """A relative duration; a datetime is not one (see `deadline`)."""
    if isinstance(value, bool):
        raise TypeError("a duration cannot be a bool")
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(milliseconds=value)
    if isinstance(value, str):
        match = _PATTERN.match(value)
        unit = match.group(2).lower() if match else ""
        if not match or (unit and unit not in _UNIT_MS):
            raise ValueError(f"{value!r} is not a duration; use e.g. 500, '90s', '30 mins', '1h' or '2.5d'")
        return timedelta(milliseconds=float(match.group(1)) * _UNIT_MS[unit or "ms"])
    raise TypeError(f"a duration must be int milliseconds, a string, a timedelta or a datetime, not {type(value).__name__}")


def deadline(value: Duration | None, now: datetime, default: timedelta = ONE_YEAR) -> datetime:
    """The absolute time a duration (or an absolute datetime) ends, counted from `now`."""
    if value is None:
        return now + default
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return now + parse_duration(value)
