"""`manage.py create_api_token <username>`: a bearer token for the JSON API (GET /api/runs/<id>)."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from runs.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for a user (or print the one they already have)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        user_model = get_user_model()
        try:
            user = user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise CommandError(f"no user named {username!r}; create one first "
                               f"(manage.py createsuperuser)") from None
        token = ApiToken.objects.filter(user=user).order_by("created_at").first()
        if token is None:
            # 32 random bytes; token_urlsafe gives 43 characters, within the 64 the column holds.
            token = ApiToken.objects.create(user=user, key=secrets.token_urlsafe(32))
        # Only the key on stdout, so scripts can capture it: TOKEN=$(manage.py create_api_token alice)
        self.stdout.write(token.key)
