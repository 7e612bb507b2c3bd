"""`manage.py create_api_token <username> [--scope read|operate] [--expires-in-days N | --no-expiry]`: a new
bearer token for the JSON API. It is printed once, here: only its SHA-256 is stored."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from runs.models import ApiToken
from runs.store import tokens

DEFAULT_DAYS = 90


class Command(BaseCommand):
    help = "Create an API token for a user and print it (the only time it can be seen)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--scope", choices=ApiToken.Scope.values, default=ApiToken.Scope.READ,
                            help="read: the JSON API's reads; operate: also cancel/retry (with the user's "
                                 "runs.operate_run permission). Default: read")
        expiry = parser.add_mutually_exclusive_group()
        expiry.add_argument("--expires-in-days", type=int, default=DEFAULT_DAYS, metavar="N",
                            help=f"the token stops working after N days (default {DEFAULT_DAYS})")
        expiry.add_argument("--no-expiry", action="store_true", help="the token works until revoked")

    def handle(self, *args: Any, username: str, scope: str, expires_in_days: int, no_expiry: bool,
               **options: Any) -> None:
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise CommandError(f"no user named {username!r}; create one first "
                               f"(manage.py createsuperuser)") from None
        if not no_expiry and expires_in_days < 1:
            raise CommandError("--expires-in-days must be at least 1 (or use --no-expiry)")
        row, token = tokens.issue(user, scope=scope,
                                  expires_in=None if no_expiry else timedelta(days=expires_in_days))
        expiry = f"expires {row.expires_at:%Y-%m-%d %H:%M} UTC" if row.expires_at else "never expires"
        self.stderr.write(f"Token {row.prefix}... for {username}: scope {scope}, {expiry}. It is shown only now; "
                          f"revoke it with: manage.py revoke_api_token {row.prefix}")
        # Only the token on stdout, so scripts can capture it: TOKEN=$(manage.py create_api_token alice)
        self.stdout.write(token)
