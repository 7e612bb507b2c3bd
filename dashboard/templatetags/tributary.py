"""What every dashboard page hands its scripts, wherever the dashboard is mounted: `{% load tributary %}`."""

from __future__ import annotations

from django import template
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import json_script
from django.utils.safestring import SafeString

from dashboard.auth import login_url

register = template.Library()


@register.simple_tag(takes_context=True)
def tributary_page_config(context: template.Context) -> SafeString:
    """A JSON script element for static/js/common.js: the base URL every script builds its URLs from (the
    prefix the project mounted dashboard.urls under), and whether a live socket can work at all. Served over
    WSGI (plain `runserver`, gunicorn) there are no websockets: the badge says so instead of retrying."""
    request: HttpRequest | None = context.get("request")
    return json_script({"base": reverse("tributary:home"), "live": isinstance(request, ASGIRequest)},
                       "tributary-page-config")


@register.simple_tag
def tributary_login_url() -> str:
    return login_url()
