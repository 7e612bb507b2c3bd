"""Where the dashboard sends users to log in and out, in this project or in any project that mounts it.

A project with a login of its own (LOGIN_URL resolving to a view) keeps it; one without gets the dashboard's
own login view (`tributary:login`), so the pages never redirect to a URL that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.urls import NoReverseMatch, Resolver404, resolve, reverse


def login_url() -> str:
    """The project's LOGIN_URL if it leads to a view, else the dashboard's own login page."""
    try:
        url = resolve_url(settings.LOGIN_URL)
        resolve(url.split("?", 1)[0])
        return url
    except (NoReverseMatch, Resolver404):
        return reverse("tributary:login")


def login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Django's login_required, with `login_url()` as the login page."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        return redirect_to_login(request.get_full_path(), login_url())

    return wrapped


class DashboardLogoutView(auth_views.LogoutView):
    """Logs out (POST) and goes to LOGOUT_REDIRECT_URL if the project sets one, else to the login page."""

    def get_default_redirect_url(self) -> str:
        if self.next_page or settings.LOGOUT_REDIRECT_URL:
            return super().get_default_redirect_url()
        return login_url()  # not Django's "logged out" page: a project without a login has no template for it
