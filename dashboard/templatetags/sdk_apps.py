"""Template helpers for runtimes, SDK apps and step names: `{% load sdk_apps %}`. Output goes through
format_html (user data escaped)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from dashboard import sdk_apps
from runs.remote import RUNTIME_NATIVE

register = template.Library()


@register.simple_tag
def runtime_badge(runtime: str | None) -> SafeString:
    """The runtime of a function: "Python native", "inngest-py" or "inngest-js" (a native one is muted)."""
    runtime = runtime or RUNTIME_NATIVE
    return format_html('<span class="runtime rt-{}{}" title="runtime">{}</span>', runtime,
                       " native" if runtime == RUNTIME_NATIVE else "", sdk_apps.runtime_label(runtime))


@register.simple_tag
def step_name(step: Any) -> SafeString:
    """A step as an operator reads it: its display name (SDK steps), with the stored id (the SHA-1 hash) on
    hover and copy; a native step's id is its name."""
    step_id = getattr(step, "step_id", "") or ""
    display = getattr(step, "display_name", "") or ""
    if not display or display == step_id:
        return format_html('<span class="step-name">{}</span>', step_id)
    return format_html('<span class="step-name" title="step id {}" data-step-id="{}">{}</span>', step_id, step_id,
                       display)


@register.simple_tag
def ago(value: datetime | None, empty: str = "never") -> SafeString:
    """Relative time ("3 minutes ago"), the absolute UTC time on hover."""
    if value is None:
        return format_html('<span class="muted">{}</span>', empty)
    utc = value.astimezone(UTC)
    text = "just now" if (timezone.now() - value).total_seconds() < 60 else f"{timesince(value)} ago"
    return format_html('<span class="ago" title="{} UTC">{}</span>', utc.strftime("%Y-%m-%d %H:%M:%S"), text)


register.filter("flow_summary", sdk_apps.flow_summary)
register.filter("unsupported_options", sdk_apps.unsupported)
register.filter("runtime_of", sdk_apps.runtime_of)
