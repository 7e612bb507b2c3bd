"""Login throttling and password validation (hardening item 7): a burst of failed logins for one username, or
from one address, is answered 429 (the form with the reason) until the window passes, whichever login form
is used; passwords that users choose are validated, while the demo's demo/demo login still works."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client

PASSWORD = "a-long-enough-passphrase"


@pytest.fixture(autouse=True)
def fresh_counts(settings: Any) -> Iterator[None]:
    settings.RUNS_LOGIN_FAILURES_PER_USER = 3
    settings.RUNS_LOGIN_FAILURES_PER_ADDRESS = 6
    # The counts live in the cache, which outlives a test's database: each test gets an empty one of its own
    # (never Redis, which other processes may share, even when REDIS_URL is set).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "login-throttle-tests"}}
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice", password=PASSWORD)


def log_in(username: str, password: str, address: str = "10.0.0.1", path: str = "/accounts/login/") -> Any:
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


def test_a_burst_of_failures_for_one_user_is_429_even_with_the_right_password(alice: User) -> None:
    for attempt in range(3):
        assert log_in("alice", f"guess-{attempt}").status_code == 200  # the form again, with an error
    refused = log_in("alice", PASSWORD)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many failed logins" in refused.content.decode()
    assert "_auth_user_id" not in refused.client.session
    # From another address too: the limit is the username's.
    assert log_in("ALICE", PASSWORD, address="10.9.9.9").status_code == 429


def test_a_burst_from_one_address_is_429_for_every_username(alice: User) -> None:
    for attempt in range(6):
        log_in(f"nobody-{attempt}", "guess")
    assert log_in("alice", PASSWORD).status_code == 429
    welcome = log_in("alice", PASSWORD, address="10.0.0.2")
    assert welcome.status_code == 302 and welcome["Location"] == "/runs/"


def test_the_window_passing_lets_the_user_in_again(alice: User) -> None:
    for attempt in range(3):
        log_in("alice", f"guess-{attempt}")
    assert log_in("alice", PASSWORD).status_code == 429
    cache.clear()  # what the window's expiry does
    assert log_in("alice", PASSWORD).status_code == 302


def test_a_successful_login_starts_the_users_count_over(alice: User) -> None:
    for attempt in range(2):
        log_in("alice", f"guess-{attempt}")
    assert log_in("alice", PASSWORD).status_code == 302
    for attempt in range(2):
        assert log_in("alice", f"again-{attempt}").status_code == 200
    assert log_in("alice", PASSWORD).status_code == 302


def test_the_admin_login_is_throttled_too(alice: User) -> None:
    alice.is_staff = True
    alice.save()
    for attempt in range(3):
        log_in("alice", f"guess-{attempt}", path="/admin/login/")
    refused = log_in("alice", PASSWORD, path="/admin/login/")
    assert refused.status_code == 200 and "_auth_user_id" not in refused.client.session  # the form, refused
    assert log_in("alice", PASSWORD).status_code == 429


def test_passwords_users_choose_are_validated(db: None) -> None:
    for weak in ("demo", "password123", "12345678901"):
        with pytest.raises(ValidationError):
            password_validation.validate_password(weak, User(username="someone"))
    password_validation.validate_password(PASSWORD, User(username="someone"))


def test_the_demo_login_still_works(db: None) -> None:
    call_command("demo", "--no-runs", stdout=io.StringIO())
    response = log_in("demo", "demo")
    assert response.status_code == 302 and response["Location"] == "/runs/"
