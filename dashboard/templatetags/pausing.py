"""`{% paused_badge app_id function_id %}`: marks a paused function wherever a page lists it (Functions, Runs
rows, the run page, Apps). The paused functions are read once per request (one indexed query)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from runs.store import pausing

register = template.Library()

_CACHE_ATTRIBUTE = "_tributary_paused_functions"


def paused_set(context: Any) -> set[tuple[str, str]]:
    """Kept on the request (one query per page, its partials included), or on the template context where a
    project's settings leave the request out of it."""
    holder = context.get("request") or context
    paused = getattr(holder, _CACHE_ATTRIBUTE, None)
    if paused is None:
        paused = pausing.paused_functions()
        setattr(holder, _CACHE_ATTRIBUTE, paused)
    return paused


@register.simple_tag(takes_context=True)
def is_paused(context: Any, app_id: str, function_id: str) -> bool:
    return (app_id, function_id) in paused_set(context)


@register.simple_tag(takes_context=True)
def paused_badge(context: Any, app_id: str, function_id: str) -> SafeString:
    if (app_id, function_id) not in paused_set(context):
        return SafeString("")
    return format_html('<span class="paused-badge" data-paused="{}/{}" title="{}"><i aria-hidden="true"></i>'
                       'paused</span>', app_id, function_id,
                       "paused by an operator: new runs queue, none starts until the function is resumed")
