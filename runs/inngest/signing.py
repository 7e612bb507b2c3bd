"""Signing keys as the official SDKs use them: request signatures, answer signatures and the bearer an SDK
sends to the server (protocol document section 10).

A key looks like `signkey-<env>-<hex>`. The HMAC key is the hex part as text; a request is signed over its
RFC 8785 canonical JSON (the SDKs canonicalise before they check, so the canonical bytes are also what we
send), an answer over its raw bytes. The bearer is the SHA-256 of the hex part's bytes, with or without the
`signkey-<env>-` prefix (inngest-py sends it bare, inngest-js prefixed).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

import rfc8785

_PREFIX = re.compile(r"^signkey-\w+-")


class SignatureError(ValueError):
    """A signature that is missing, malformed or made with none of the configured keys."""


def key_secret(key: str) -> str:
    """The part of a signing key that is the HMAC key: the hex after `signkey-<env>-`."""
    return key[len(key_prefix(key)):]


def key_prefix(key: str) -> str:
    match = _PREFIX.match(key)
    return match.group(0) if match else ""


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON: the bytes a Call Request is signed over and sent as."""
    return rfc8785.dumps(value)


def _mac(key: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(key_secret(key).encode(), body, hashlib.sha256)
    mac.update(str(timestamp).encode())
    return mac.hexdigest()


def sign(body: bytes, key: str, *, timestamp: int | None = None) -> str:
    """The `X-Inngest-Signature` header for `body` (already canonical for a request, raw for an answer)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t}&s={_mac(key, body, t)}"


def verify(body: bytes, header: str | None, keys: Iterable[str], *, max_age_seconds: float | None = 300) -> str:
    """Check `header` against `body` with each key (main, then fallback); returns the key that signed it."""
    if not header:
        raise SignatureError("the answer carries no X-Inngest-Signature header")
    fields = parse_qs(header)
    try:
        timestamp = int(fields["t"][0])
        signature = fields["s"][0]
    except (KeyError, ValueError, IndexError):
        raise SignatureError(f"malformed X-Inngest-Signature header {header[:100]!r}") from None
    if max_age_seconds is not None and abs(time.time() - timestamp) > max_age_seconds:
        raise SignatureError(f"X-Inngest-Signature is {int(abs(time.time() - timestamp))} s old")
    for key in keys:
        if key and hmac.compare_digest(signature, _mac(key, body, timestamp)):
            return key
    raise SignatureError("X-Inngest-Signature does not verify with the configured signing key(s)")


def bearer_digest(key: str) -> str:
    """The hex SHA-256 an SDK sends as `Authorization: Bearer ...` for this key (without the prefix)."""
    return hashlib.sha256(bytes.fromhex(key_secret(key))).hexdigest()


def bearer_matches(authorization: str | None, keys: Iterable[str]) -> bool:
    """Whether an `Authorization` header carries the bearer of one of `keys`, bare or `signkey-<env>-`
    prefixed (both SDKs' forms)."""
    if not authorization or not authorization.startswith("Bearer "):
        return False
    token = authorization[len("Bearer "):].strip()
    token = token[len(key_prefix(token)):]
    return any(key and hmac.compare_digest(token, bearer_digest(key)) for key in keys)
