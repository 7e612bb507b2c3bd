"""A project's URLconf with the dashboard mounted under a prefix, as docs/getting-started.md tells users
(tests/integration/test_mounted_under_prefix.py). The project has a page of its own and a login view of its own
that it may or may not name in LOGIN_URL."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("the project's own home page")


urlpatterns = [
    path("", home, name="home"),  # the same name as the dashboard's: the namespace keeps them apart
    path("my-login/", auth_views.LoginView.as_view(template_name="tributary/login.html"), name="login"),
    path("tributary/", include("dashboard.urls")),
]
