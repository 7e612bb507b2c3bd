"""API tokens: issue (the token is returned once; only its SHA-256 is stored), authenticate, revoke.

A token is 32 random bytes, so a fast hash is enough: nothing can be guessed from a leaked digest, and
lookup is one indexed query. The row is found by the digest of what the caller sent (a value the caller cannot
steer byte by byte); the final comparison is constant-time anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from runs.models import ApiToken

TOKEN_PREFIX = "trb_"  # recognisable in logs and by secret scanners
PREFIX_LENGTH = 12  # what is stored in the clear to name a token: "trb_" and 8 random characters


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user: Any, *, scope: str = ApiToken.Scope.READ, expires_in: timedelta | None) -> tuple[ApiToken, str]:
    """A new token for `user`: its row, and the token itself, which nothing can show again."""
    if scope not in ApiToken.Scope.values:
        raise ValueError(f"scope must be one of {', '.join(ApiToken.Scope.values)}, not {scope!r}")
    if expires_in is not None and expires_in <= timedelta(0):
        raise ValueError("a token must expire in the future (or never)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        user=user, digest=digest_of(token), prefix=token[:PREFIX_LENGTH], scope=scope,
        expires_at=timezone.now() + expires_in if expires_in is not None else None)
    return row, token


def authenticate(token: str) -> ApiToken | None:
    """The live token row for `token` (with its user), or None: unknown, expired, revoked, or inactive user."""
    digest = digest_of(token)
    found = ApiToken.objects.select_related("user").filter(digest=digest).first()
    if found is None or not hmac.compare_digest(found.digest, digest):
        return None
    if found.revoked_at is not None or (found.expires_at is not None and found.expires_at <= timezone.now()):
        return None
    return found if found.user.is_active else None


def revoke(*, token_or_prefix: str | None = None, user: Any = None) -> int:
    """Revoke the token given whole or by its exact prefix, or every token of `user` (or both: that token, if
    it is the user's); how many were live and are revoked now."""
    if token_or_prefix is None and user is None:
        raise ValueError("name a token (or its prefix) or a user")
    live = ApiToken.objects.filter(revoked_at__isnull=True)
    if token_or_prefix is not None:
        live = live.filter(Q(digest=digest_of(token_or_prefix)) | Q(prefix=token_or_prefix))
    if user is not None:
        live = live.filter(user=user)
    return live.update(revoked_at=timezone.now())
