"""Login throttling: after a burst of failed logins for one username, or from one address, further attempts are
refused for a while (the login page answers 429) instead of letting a password be guessed at full speed.

Failures are counted in Django's cache, in fixed windows: the in-process memory cache in embedded mode (one
process), Redis when REDIS_URL is set, so that every Daphne process of a deployment sees the same counts.
The check sits in the authentication backend, so it covers every login form (the dashboard's and the
admin's); failures are counted from Django's `user_login_failed` signal, whichever backend refused.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from runs import conf


def _user_key(username: str) -> str:
    # Hashed: a username is user input of any length and characters, and cache keys must be short and plain.
    return "login-failures:user:" + hashlib.sha256(username.strip().lower().encode()).hexdigest()


def _address_key(request: HttpRequest | None) -> str | None:
    address = request.META.get("REMOTE_ADDR") if request is not None else None
    return f"login-failures:address:{address}" if address else None


def _limits(username: str | None, request: HttpRequest | None) -> list[tuple[str, int]]:
    limits = []
    if username:
        limits.append((_user_key(username), conf.get("RUNS_LOGIN_FAILURES_PER_USER")))
    address_key = _address_key(request)
    if address_key:
        limits.append((address_key, conf.get("RUNS_LOGIN_FAILURES_PER_ADDRESS")))
    return limits


def is_throttled(username: str | None, request: HttpRequest | None) -> bool:
    return any((cache.get(key) or 0) >= limit for key, limit in _limits(username, request))


def record_failure(username: str | None, request: HttpRequest | None) -> None:
    for key, _ in _limits(username, request):
        # add() starts a window only if none is open; incr() keeps the window's expiry.
        if not cache.add(key, 1, timeout=conf.get("RUNS_LOGIN_THROTTLE_SECONDS")):
            try:
                cache.incr(key)
            except ValueError:  # the window expired between add() and incr()
                cache.add(key, 1, timeout=conf.get("RUNS_LOGIN_THROTTLE_SECONDS"))


def on_login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None,
                    **kwargs: Any) -> None:
    record_failure(credentials.get("username"), request)


def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    # The user's own count starts over; the address's does not (one known login must not reset a guesser).
    cache.delete(_user_key(user.get_username()))


class ThrottledModelBackend(ModelBackend):
    """Django's username/password backend, refusing (without checking the password) while throttled."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> Any:
        if is_throttled(username, request):
            raise PermissionDenied("too many failed logins")  # authenticate() stops here: no other backend tries
        return super().authenticate(request, username=username, password=password, **kwargs)


class ThrottledLoginView(auth_views.LoginView):
    """The dashboard's login page: while throttled, the form comes back with the reason and status 429.
    After logging in without a `next` page it goes to the runs page (a project's LOGIN_REDIRECT_URL is for the
    project's own login)."""

    template_name = "tributary/login.html"

    def get_default_redirect_url(self) -> str:
        return reverse("tributary:runs")

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = request.POST.get("username")
        if not is_throttled(username, request):
            return super().post(request, *args, **kwargs)
        minutes = max(1, round(conf.get("RUNS_LOGIN_THROTTLE_SECONDS") / 60))
        # The bound form keeps the username; it is never validated, so the password is not even checked.
        context = self.get_context_data(form=self.get_form(),
                                        throttled=f"Too many failed logins. Try again in {minutes} minutes.")
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = str(conf.get("RUNS_LOGIN_THROTTLE_SECONDS"))
        return response
