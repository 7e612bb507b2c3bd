"""The websocket handshake's Origin check: a socket opens only for a page of this very site.

Browsers send no CSRF token on a websocket handshake, but they do send the page's Origin and the Host they
addressed. Channels' AllowedHostsOriginValidator compares only the Origin's host name with ALLOWED_HOSTS, so a
page on another port of an allowed host (http://127.0.0.1:9999 against a server on 127.0.0.1:8000: another
origin, maybe someone else's dev server) could open a socket with the user's cookies. Here the Origin must name
the same host *and port* as the Host header, and that host must be in ALLOWED_HOSTS (the same list, and the same
check, as Django's own HTTP requests). An origin listed in CSRF_TRUSTED_ORIGINS (scheme://host[:port]) passes too,
for proxies that rewrite the Host header.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[Any]]


class SameOriginValidator:
    """ASGI middleware for websockets: deny the handshake (403) unless `origin_allowed(scope)`."""

    def __init__(self, application: ASGIApp) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier.as_asgi()(scope, receive, send)
        return await self.application(scope, receive, send)


def origin_allowed(scope: dict[str, Any]) -> bool:
    headers = _headers(scope)
    origin = _origin(headers.get("origin", ""))
    if origin is None:
        return False  # no Origin, "null" or garbage: not a page of ours
    scheme, host, port = origin
    if f"{scheme}://{_netloc(host, port, scheme)}" in getattr(settings, "CSRF_TRUSTED_ORIGINS", []):
        return True
    if scope.get("scheme") == "wss" and scheme != "https":
        return False  # an http page asking for our TLS socket is not us (behind a proxy the scheme is "ws")
    addressed = _addressed_host(headers)
    if addressed is None:
        return False
    addressed_host, addressed_port = addressed
    if not validate_host(addressed_host, allowed_hosts()):
        return False  # the same rule as HTTP requests (DNS rebinding)
    # Browsers build Host and Origin from the same URL and both leave out a default port, so "no port" on the
    # Host side means the Origin scheme's default port.
    return host == addressed_host.strip("[]") and port == (addressed_port or DEFAULT_PORTS[scheme])


def allowed_hosts() -> list[str]:
    """ALLOWED_HOSTS as Django's HTTP requests read it: with DEBUG on, an empty list (a new project's) means the
    local addresses."""
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return [".localhost", "127.0.0.1", "[::1]"]
    return list(settings.ALLOWED_HOSTS)


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        headers.setdefault(name.decode("latin1").lower(), value.decode("latin1"))
    return headers


def _origin(value: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) Origin header, host lower-cased and port filled in; None if invalid."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    return scheme, parts.hostname.lower().removesuffix("."), port or DEFAULT_PORTS[scheme]


def _addressed_host(headers: dict[str, str]) -> tuple[str, int | None] | None:
    """The host and (explicit) port the browser connected to, as Django's request.get_host() reads them."""
    value = headers.get("host", "")
    if settings.USE_X_FORWARDED_HOST and "x-forwarded-host" in headers:
        value = headers["x-forwarded-host"]
    host, port = split_domain_port(value)  # lower-cased; ("", "") when not a valid host[:port]
    if not host:
        return None
    return host, int(port) if port else None


def _netloc(host: str, port: int, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port == DEFAULT_PORTS[scheme] else f"{shown}:{port}"
