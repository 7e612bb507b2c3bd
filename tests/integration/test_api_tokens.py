"""API tokens and the action endpoints' doors (hardening items 6 and 7): tokens are stored as digests and
shown once, expire, can be revoked, carry a read or operate scope; only a request that authenticated by its
token skips CSRF, so a session with a made-up Authorization header cannot act without the CSRF token."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.utils import timezone

from runs import client as runs_client
from runs.models import ApiToken, OperatorAction, Run
from runs.sdk import App, Context
from runs.status import RunStatus
from runs.store import tokens
from runs.store.functions import sync_functions

app = App("it-api-tokens")


@app.function(id="idle", trigger="tokens/idle", retries=0)
async def idle(ctx: Context) -> None:
    return None


@pytest.fixture
def queued_run(db: None) -> str:
    """A run nobody executes (no worker): it stays queued, so cancelling it is allowed."""
    sync_functions(app.functions.values())
    [run] = runs_client.runs_for_event(runs_client.send("tokens/idle"))
    return run.id


def make_user(name: str, *, operate: bool) -> User:
    user = User.objects.create_user(name, password="pw-" + name)
    if operate:
        user.user_permissions.add(Permission.objects.get(codename="operate_run"))
    return user


def cancel(http: Client, run_id: str, **extra: str) -> Any:
    return http.post(f"/api/runs/{run_id}/cancel", data=json.dumps({}), content_type="application/json", **extra)


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def run_status(run_id: str) -> str:
    return Run.objects.get(id=run_id).status


# --- CSRF (item 6) ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Bearer garbage", "Bearer ", "bearer x"])
def test_a_session_with_a_made_up_bearer_header_still_needs_csrf(queued_run: str, header: str) -> None:
    session = Client(enforce_csrf_checks=True)
    session.force_login(make_user("op", operate=True))
    response = cancel(session, queued_run, HTTP_AUTHORIZATION=header)
    assert response.status_code == 403 and "CSRF" in response.json()["error"]
    assert run_status(queued_run) == RunStatus.QUEUED
    assert not OperatorAction.objects.exists()


def test_a_session_with_a_real_token_header_still_needs_csrf(queued_run: str) -> None:
    # A logged-in browser is a session whatever else it sends: only token-authenticated requests skip CSRF.
    user = make_user("op", operate=True)
    _, token = tokens.issue(user, scope=ApiToken.Scope.OPERATE, expires_in=None)
    session = Client(enforce_csrf_checks=True)
    session.force_login(user)
    assert cancel(session, queued_run, **bearer(token)).status_code == 403
    assert run_status(queued_run) == RunStatus.QUEUED


def test_a_token_alone_acts_without_csrf(queued_run: str) -> None:
    _, token = tokens.issue(make_user("op", operate=True), scope=ApiToken.Scope.OPERATE, expires_in=None)
    response = cancel(Client(enforce_csrf_checks=True), queued_run, **bearer(token))
    assert response.status_code == 200, response.content
    assert run_status(queued_run) == RunStatus.CANCELLED
    assert OperatorAction.objects.get().username == "op"


# --- scope -----------------------------------------------------------------------------------------------------


def test_a_read_only_token_reads_but_cannot_act(queued_run: str) -> None:
    _, token = tokens.issue(make_user("op", operate=True), scope=ApiToken.Scope.READ, expires_in=None)
    http = Client(enforce_csrf_checks=True)
    assert http.get(f"/api/runs/{queued_run}", **bearer(token)).status_code == 200
    for url, body in ((f"/api/runs/{queued_run}/cancel", {}), (f"/api/runs/{queued_run}/retry", {}),
                      ("/api/runs/bulk", {"action": "cancel", "filters": {"function": "idle"}, "dry_run": True})):
        response = http.post(url, data=json.dumps(body), content_type="application/json", **bearer(token))
        assert response.status_code == 403, url
        assert "read-only" in response.json()["error"]
    assert run_status(queued_run) == RunStatus.QUEUED
    assert not OperatorAction.objects.exists()


def test_an_operate_token_needs_its_users_permission(queued_run: str) -> None:
    _, token = tokens.issue(make_user("viewer", operate=False), scope=ApiToken.Scope.OPERATE, expires_in=None)
    response = cancel(Client(), queued_run, **bearer(token))
    assert response.status_code == 403 and "operate_run" in response.json()["error"]
    assert run_status(queued_run) == RunStatus.QUEUED


# --- storage, expiry, revocation (item 7) ----------------------------------------------------------------------


def test_create_api_token_stores_only_a_digest_with_scope_and_expiry(db: None,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    make_user("alice", operate=True)
    call_command("create_api_token", "alice", "--scope", "operate", "--expires-in-days", "7")
    captured = capsys.readouterr()
    token = captured.out.strip()
    row = ApiToken.objects.get()
    assert token.startswith("trb_") and len(token) >= 40
    assert row.digest == tokens.digest_of(token) and row.prefix == token[:12] and row.scope == "operate"
    assert row.prefix in captured.err and token not in captured.err
    assert timedelta(days=7) - timedelta(minutes=1) < row.expires_at - timezone.now() <= timedelta(days=7)
    assert token not in json.dumps(list(ApiToken.objects.values()), default=str)


def test_create_api_token_defaults_to_read_only_and_an_expiry(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    make_user("alice", operate=True)
    call_command("create_api_token", "alice")
    row = ApiToken.objects.get()
    assert row.scope == "read" and row.expires_at is not None and row.expires_at > timezone.now()
    call_command("create_api_token", "alice", "--no-expiry")
    assert ApiToken.objects.exclude(id=row.id).get().expires_at is None
    with pytest.raises(CommandError, match="at least 1"):
        call_command("create_api_token", "alice", "--expires-in-days", "0")
    with pytest.raises(CommandError):
        call_command("create_api_token", "alice", "--scope", "admin")


def test_an_expired_token_is_refused(queued_run: str) -> None:
    row, token = tokens.issue(make_user("alice", operate=False), expires_in=timedelta(hours=1))
    assert Client().get(f"/api/runs/{queued_run}", **bearer(token)).status_code == 200
    # An hour later, as far as the token is concerned.
    ApiToken.objects.filter(id=row.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().get(f"/api/runs/{queued_run}", **bearer(token))
    assert response.status_code == 401 and "expired" in response.json()["error"]


def test_revoke_api_token_by_prefix_and_by_user(queued_run: str, capsys: pytest.CaptureFixture[str]) -> None:
    alice, bob = make_user("alice", operate=False), make_user("bob", operate=False)
    first, first_token = tokens.issue(alice, expires_in=None)
    _, second_token = tokens.issue(alice, expires_in=None)
    _, bobs_token = tokens.issue(bob, expires_in=None)

    def reads(token: str) -> int:
        return Client().get(f"/api/runs/{queued_run}", **bearer(token)).status_code

    call_command("revoke_api_token", first.prefix)
    assert "Revoked 1 token." in capsys.readouterr().out
    assert (reads(first_token), reads(second_token), reads(bobs_token)) == (401, 200, 200)
    with pytest.raises(CommandError, match="no live token"):
        call_command("revoke_api_token", first.prefix)  # revoked already
    call_command("revoke_api_token", "--user", "alice")
    assert (reads(second_token), reads(bobs_token)) == (401, 200)
    call_command("revoke_api_token", bobs_token)  # the whole token works as well as its prefix
    assert reads(bobs_token) == 401
    with pytest.raises(CommandError, match="no live token"):
        call_command("revoke_api_token", "trb_")  # a shorter prefix names nothing: it never revokes many
    with pytest.raises(CommandError, match="no user named"):
        call_command("revoke_api_token", "--user", "nobody")
    with pytest.raises(CommandError, match="name a token"):
        call_command("revoke_api_token")


# --- the migration --------------------------------------------------------------------------------------------


def migrate_runs_to(target: str) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("runs", target)])


def latest_runs_migration() -> str:
    [name] = [name for app_label, name in MigrationLoader(connection).graph.leaf_nodes() if app_label == "runs"]
    return name


def test_the_migration_hashes_existing_plain_tokens(transactional_db: None) -> None:
    user = make_user("legacy", operate=True)
    latest = latest_runs_migration()
    migrate_runs_to("0005_audit_runs")
    try:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO runs_apitoken (key, user_id, created_at) VALUES (%s, %s, %s)",
                           ["legacy-plain-token-0123456789abcdefghijklmnop", user.id, timezone.now()])
    finally:
        migrate_runs_to(latest)
    row = tokens.authenticate("legacy-plain-token-0123456789abcdefghijklmnop")
    assert row is not None and row.user == user and row.prefix == "legacy-plain"
    # Legacy tokens could act and never expired: they still act (with the user's permission), for a while.
    assert row.scope == "operate" and row.expires_at is not None and row.expires_at > timezone.now()
    assert row.digest == tokens.digest_of("legacy-plain-token-0123456789abcdefghijklmnop")
