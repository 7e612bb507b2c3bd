"""Websockets end with the login that opened them.

Each socket joins a channel-layer group named after its session (a hash: group names may reach Redis, session
keys must not). Logging out sends `session.ended` to that group, so the session's sockets close at once, in
this process or, through Redis, in any other; consumers also re-check `logs_in` on a timer for sessions that end
without a logout (expiry, deletion, a password change).
"""

from __future__ import annotations

import hashlib
import logging
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest

logger = logging.getLogger("dashboard.sessions")


def session_group(session_key: str) -> str:
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


class _SessionSnapshot(dict[str, Any]):
    """A copy of a session's data for `auth.get_user`, which may cycle or flush the session: here that changes
    nothing stored (the browser's cookie must stay valid; its next HTTP request does the real thing)."""

    def cycle_key(self) -> None:
        pass

    def flush(self) -> None:
        self.clear()


def logs_in(session_key: str, user_pk: Any) -> bool:
    """Whether the session still logs in this user, checked as Django checks each HTTP request (expiry, the
    password hash stored in the session, SECRET_KEY_FALLBACKS, an active user)."""
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()  # {} once missing/expired
    request = SimpleNamespace(session=_SessionSnapshot(data))
    user = auth.get_user(request)  # type: ignore[arg-type]  # reads only request.session
    return bool(user.is_authenticated and user.pk == user_pk)


@receiver(user_logged_out, dispatch_uid="dashboard.sessions.close_sockets_at_logout")
def close_sockets_at_logout(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    layer = get_channel_layer()
    if not session_key or layer is None:
        return
    try:
        # The logout view runs in a thread of the ASGI server, so this send runs on the server's own loop, where
        # the in-memory layer's consumers live.
        async_to_sync(layer.group_send)(session_group(session_key), {"type": "session.ended"})
    except Exception:  # logging out must work even when live updates cannot be told (Redis down): the timer closes
        logger.warning("could not close the websockets of a logged-out session", exc_info=True)
