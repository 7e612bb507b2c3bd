"""`manage.py revoke_api_token <token or prefix>` or `manage.py revoke_api_token --user <username>`: the
token (or every token of the user) stops working at once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from runs.store import tokens


class Command(BaseCommand):
    help = "Revoke an API token (named by itself or by the prefix create_api_token showed), or all of a user's."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("token", nargs="?", help="the token, or its first 12 characters (e.g. trb_AbCd1234)")
        parser.add_argument("--user", help="revoke every token of this user (with a token: only if it is theirs)")

    def handle(self, *args: Any, token: str | None, user: str | None, **options: Any) -> None:
        if not token and not user:
            raise CommandError("name a token (or its prefix), or --user <username>")
        owner = None
        if user:
            user_model = get_user_model()
            try:
                owner = user_model._default_manager.get_by_natural_key(user)
            except user_model.DoesNotExist:
                raise CommandError(f"no user named {user!r}") from None
        revoked = tokens.revoke(token_or_prefix=token or None, user=owner)
        if revoked == 0 and token:
            raise CommandError("no live token matches (unknown, or revoked already)")
        self.stdout.write(f"Revoked {revoked} token{'s' if revoked != 1 else ''}.")
