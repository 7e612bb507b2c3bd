"""Template helpers for the operator pages: status badges, times (UTC on the server, local in the browser),
human durations and pretty JSON. Everything goes through format_html or autoescape."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from django import template
from django.db import models
from django.utils import timezone
from django.utils.html import format_html, format_html_join, json_script
from django.utils.safestring import SafeString

from runs.status import (
    ACTIVE_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    ActionKind,
    ActionOutcome,
    OperatorActionName,
    RetryMode,
    RunStatus,
    StepKind,
    StepStatus,
)

register = template.Library()

_LABELS = {**dict(StepStatus.choices), **dict(RunStatus.choices)}

# --- the names of statuses and actions, defined once in runs/status.py --------------------------------------
_CHOICES: tuple[type[models.TextChoices], ...] = (RunStatus, StepStatus, StepKind, ActionKind, RetryMode,
                                                  OperatorActionName, ActionOutcome)
_VOCABULARY = SimpleNamespace(**{choices.__name__: choices for choices in _CHOICES},
                              active_run_statuses=ACTIVE_RUN_STATUSES, terminal_run_statuses=TERMINAL_RUN_STATUSES)


@register.simple_tag
def vocabulary() -> SimpleNamespace:
    """For templates: `{% vocabulary as v %}`, then `{% if run.status == v.RunStatus.FAILED %}` or
    `data-mode="{{ v.RetryMode.ROOT_CAUSE }}"` (templates do not call Choices classes, they read them)."""
    return _VOCABULARY


def vocabulary_data() -> dict[str, Any]:
    """For scripts: each TextChoices as {NAME: value}, the badge labels and the status groups."""
    data: dict[str, Any] = {choices.__name__: dict(zip(choices.names, choices.values, strict=True))
                            for choices in _CHOICES}
    data["status_labels"] = _LABELS
    data["active_run_statuses"] = sorted(ACTIVE_RUN_STATUSES)
    data["terminal_run_statuses"] = sorted(TERMINAL_RUN_STATUSES)
    return data


@register.simple_tag
def vocabulary_script() -> SafeString:
    """The one json_script block (in base.html) that static/js/common.js reads the names from."""
    return json_script(vocabulary_data(), "tributary-vocabulary")


@register.simple_tag
def status_badge(status: str) -> SafeString:
    """A badge that never relies on colour alone: a shape (CSS, per status) and the text label."""
    return format_html('<span class="badge s-{}" data-status="{}"><i aria-hidden="true"></i>{}</span>',
                       status, status, _LABELS.get(status, status))


@register.simple_tag
def when(value: datetime | None, empty: str = "—") -> SafeString:
    """A <time> element: UTC text for no-script readers; static/js/common.js shows local time, UTC on hover."""
    if value is None:
        return format_html("<span class=\"muted\">{}</span>", empty)
    utc = value.astimezone(UTC)
    return format_html('<time datetime="{}" title="{} UTC">{} UTC</time>', utc.isoformat(),
                       utc.strftime("%Y-%m-%d %H:%M:%S"), utc.strftime("%Y-%m-%d %H:%M:%S"))


def human_ms(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms < 1:
        return "<1 ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.0f} min" if minutes >= 10 else f"{minutes:.1f} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


register.filter("human_ms", human_ms)


@register.simple_tag
def took(started: datetime | None, ended: datetime | None) -> SafeString:
    """How long a run or step took; a running one shows the time so far with an ellipsis (ticks in JS)."""
    if started is None:
        return format_html("<span class=\"muted\">{}</span>", "not started")
    if ended is None:
        ms = (timezone.now() - started).total_seconds() * 1000
        return format_html('<span class="ticking" data-since="{}">{}…</span>', started.isoformat(), human_ms(ms))
    return format_html("{}", human_ms((ended - started).total_seconds() * 1000))


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


@register.filter
def short_id(value: str | None) -> str:
    return (value or "")[-10:]


_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")  # what a run id can be (Run.id is at most 32 characters)


@register.filter
def is_run_id(value: object) -> bool:
    """Whether an id an audit record names can be a run's: a refused action keeps whatever it was given
    ("", "a/b", ...), and a link to such an id cannot even be built."""
    return isinstance(value, str) and _RUN_ID.fullmatch(value) is not None


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key)


@register.filter
def config_items(config: dict[str, Any] | None) -> list[tuple[str, str]]:
    """A function's configuration without its empty settings, values as compact JSON."""
    return [(key, value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str))
            for key, value in sorted((config or {}).items()) if value not in (None, "", [], {}, ())]


@register.filter
def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), sort_keys=True, default=str, ensure_ascii=False)


@register.filter
def action_label(action: str) -> str:
    """An audit record's action code as an operator reads it ("retry_root_cause" -> "Retry root cause")."""
    return _ACTION_LABELS.get(action, action.replace("_", " "))


_ACTION_LABELS = dict(OperatorActionName.choices)


SPARK_WIDTH, SPARK_HEIGHT = 120, 24


@register.simple_tag
def sparkline(counts: list[int]) -> SafeString:
    """An incident's failures per hour as an inline SVG of bars (numbers only, built server-side), with the
    total and the busiest hour in its title for readers and tests."""
    counts = [max(0, int(n)) for n in counts] or [0]
    peak, step = max(counts), SPARK_WIDTH / len(counts)
    bars = format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>', (
        (f"{i * step:.1f}", f"{SPARK_HEIGHT - h:.1f}", f"{max(step - 1, 1):.1f}", f"{h:.1f}",
         f"{n} {len(counts) - 1 - i} h ago" if i < len(counts) - 1 else f"{n} this hour")
        for i, n in enumerate(counts) if n and (h := max(2.0, SPARK_HEIGHT * n / peak))))
    title = f"{sum(counts)} failure(s) in the last {len(counts)} h; at most {peak} in one hour"
    return format_html('<svg class="sparkline" viewBox="0 0 {} {}" width="{}" height="{}" role="img" '
                       'aria-label="{}" data-total="{}"><title>{}</title>'
                       '<line x1="0" y1="{}" x2="{}" y2="{}"></line>{}</svg>',
                       SPARK_WIDTH, SPARK_HEIGHT, SPARK_WIDTH, SPARK_HEIGHT, title, sum(counts), title,
                       SPARK_HEIGHT - 0.5, SPARK_WIDTH, SPARK_HEIGHT - 0.5, bars)
