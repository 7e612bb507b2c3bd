"""Deployment settings (hardening items 8 and 15): with DEBUG off and the HTTPS settings given by environment
variables, `manage.py check --deploy` is clean; every response carries a Content-Security-Policy; a server
error's traceback is logged even with DEBUG off."""

from __future__ import annotations

import io
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "RUNS_EVENT_KEY": secrets.token_urlsafe(32),
    "DJANGO_ALLOWED_HOSTS": "runs.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://runs.example.com",
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_SECURE_HSTS_PRELOAD": "1",
    "DJANGO_SECURE_COOKIES": "1",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "1",
}


def check_deploy(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {name: value for name, value in os.environ.items()
            if not name.startswith(("DJANGO_", "RUNS_")) and name != "REDIS_URL"}
    base.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "RUNS_DATA_DIR": str(tmp_path), **env})
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                          env=base, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_the_production_environment(tmp_path: Path) -> None:
    done = check_deploy(tmp_path, PRODUCTION_ENV)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout + done.stderr


def test_check_deploy_names_what_is_missing_without_it(tmp_path: Path) -> None:
    keys_only = {name: PRODUCTION_ENV[name] for name in ("DJANGO_SECRET_KEY", "RUNS_EVENT_KEY")}
    done = check_deploy(tmp_path, keys_only)
    assert done.returncode != 0
    for code in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert code in done.stderr, done.stderr


def test_pages_carry_a_content_security_policy(db: None) -> None:
    response = Client().get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"):
        assert directive in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]  # no inline scripts


# --- a server error is logged ----------------------------------------------------------------------------------


def explode(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("exploded on purpose for the logging test")


urlpatterns = [path("explode/", explode)]


@pytest.fixture
def request_log() -> Iterator[io.StringIO]:
    """What the configured handlers of the `django.request` logger write (their streams swapped for one)."""
    handlers = [handler for handler in logging.getLogger("django.request").handlers
                if isinstance(handler, logging.StreamHandler)]
    assert handlers, "django.request has no stream handler"
    buffer = io.StringIO()
    previous = [handler.setStream(buffer) for handler in handlers]
    yield buffer
    for handler, stream in zip(handlers, previous, strict=True):
        handler.setStream(stream)


@pytest.mark.urls(__name__)
def test_a_server_error_is_logged_with_its_traceback_when_debug_is_off(db: None, settings: object,
                                                                         request_log: io.StringIO) -> None:
    assert settings.DEBUG is False  # type: ignore[attr-defined]
    http = Client(raise_request_exception=False)
    http.force_login(User.objects.create_user("someone"))
    assert http.get("/explode/").status_code == 500
    logged = request_log.getvalue()
    assert "ERROR django.request: Internal Server Error: /explode/" in logged
    assert "Traceback (most recent call last)" in logged and "exploded on purpose" in logged
