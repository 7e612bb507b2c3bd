"""The Metrics page's data (GET /api/metrics, issue 11 item 12): per window and function, runs started,
completed and failed per bucket, p50/p95 duration per bucket, and the backlog of due runs nobody claimed.

Two statements per request: the chart points (runs/store/metrics.py reads the rolled-up minutes and the few
minutes not rolled up yet in one) and the backlog (one indexed count). Buckets without runs are filled in
here, so every chart has one point per bucket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from dashboard.exceptions import BadParameter
from runs.histograms import percentile
from runs.models import DURATION_BOUNDS_MS, Function
from runs.store import metrics as store


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    name: str
    minutes: int
    bucket_minutes: int
    label: str


# Per minute for an hour; ten minutes for a day (144 points); an hour for a week (168 points).
WINDOWS = {window.name: window for window in (
    Window(name="1h", minutes=60, bucket_minutes=1, label="last hour, per minute"),
    Window(name="24h", minutes=24 * 60, bucket_minutes=10, label="last 24 hours, per 10 minutes"),
    Window(name="7d", minutes=7 * 24 * 60, bucket_minutes=60, label="last 7 days, per hour"),
)}
DEFAULT_WINDOW = "1h"
_MAX_FUNCTION_CHARS = 400


def window_param(params: Mapping[str, str]) -> Window:
    name = params.get("window", "").strip() or DEFAULT_WINDOW
    if name not in WINDOWS:
        raise BadParameter(f"window must be one of {', '.join(WINDOWS)} (got {name[:20]!r})")
    return WINDOWS[name]


def function_param(params: Mapping[str, str]) -> tuple[str, str] | None:
    """`function=<app id>/<function id>` of a registered function; empty: all functions."""
    text = params.get("function", "").strip()
    if not text:
        return None
    app_id, _, function_id = text.partition("/")
    if len(text) > _MAX_FUNCTION_CHARS or "\x00" in text or not app_id or not function_id:
        raise BadParameter("function must be <app id>/<function id>")
    if not Function.objects.filter(app_id=app_id, function_id=function_id).exists():
        raise BadParameter(f"no function {text[:200]!r}")
    return app_id, function_id


def function_choices() -> list[str]:
    return [f"{app_id}/{function_id}" for app_id, function_id in
            Function.objects.order_by("app_id", "function_id").values_list("app_id", "function_id")]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def chart_data(window: Window, function: tuple[str, str] | None, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    last = store.epoch_minute(now) // window.bucket_minutes
    first = last - window.minutes // window.bucket_minutes + 1
    found = {point.minute // window.bucket_minutes: point
             for point in store.series(first_minute=first * window.bucket_minutes,
                                       bucket_minutes=window.bucket_minutes, function=function, now=now)}
    columns: dict[str, list[Any]] = {"t": [], "started": [], "completed": [], "failed": [], "p50_ms": [],
                                     "p95_ms": []}
    overall = [0] * (len(DURATION_BOUNDS_MS) + 1)
    for bucket in range(first, last + 1):
        point = found.get(bucket)
        durations = point.durations if point else ()
        columns["t"].append(bucket * window.bucket_minutes * 60)
        columns["started"].append(point.started if point else 0)
        columns["completed"].append(point.completed if point else 0)
        columns["failed"].append(point.failed if point else 0)
        columns["p50_ms"].append(_ms(percentile(durations, DURATION_BOUNDS_MS, 0.5)))
        columns["p95_ms"].append(_ms(percentile(durations, DURATION_BOUNDS_MS, 0.95)))
        for index, count in enumerate(durations):
            overall[index] += count
    waiting = store.backlog(function, now=now)
    oldest = waiting.oldest_due_at
    return {
        "window": window.name, "label": window.label, "bucket_seconds": window.bucket_minutes * 60,
        "function": f"{function[0]}/{function[1]}" if function else None,
        "now": now,
        "series": columns,
        "totals": {"started": sum(columns["started"]), "completed": sum(columns["completed"]),
                   "failed": sum(columns["failed"]),
                   "p50_ms": _ms(percentile(overall, DURATION_BOUNDS_MS, 0.5)),
                   "p95_ms": _ms(percentile(overall, DURATION_BOUNDS_MS, 0.95))},
        "backlog": {"runs": waiting.runs, "oldest_due_at": oldest,
                    "oldest_age_seconds": round(max(0.0, (now - oldest).total_seconds()), 1) if oldest else None},
        # Durations come from a histogram (runs.models.DURATION_BOUNDS_MS): percentiles are interpolated.
        "duration_bounds_ms": list(DURATION_BOUNDS_MS),
    }
