"""Signing keys as the official SDKs use them: request signatures, answer signatures and the bearer an SDK
sends to the server (protocol document section 10).

A key looks like `signkey-<env>-<hex>`. The HMAC key is the hex part as text; a request is signed over its
RFC 8785 canonical JSON as the SDKs compute it (both parse the body and canonicalise the parsed value: the
bytes sent need not be the bytes signed), an answer over its raw bytes. The bearer is the SHA-256 of the hex
part's bytes, with or without the `signkey-<env>-` prefix (inngest-py sends it bare, inngest-js prefixed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

import rfc8785

_PREFIX = re.compile(r"^signkey-\w+-")
# The largest integer an IEEE 754 double holds exactly (JavaScript's Number.MAX_SAFE_INTEGER).
MAX_SAFE_INTEGER = 2**53 - 1


class SignatureError(ValueError):
    """A signature that is missing, malformed or made with none of the configured keys."""


class UnsignableValue(ValueError):
    """A request body holding a value the SDKs cannot canonicalise, so that no signature of it can verify."""


def key_secret(key: str) -> str:
    """The part of a signing key that is the HMAC key: the hex after `signkey-<env>-`."""
    return key[len(key_prefix(key)):]


def key_prefix(key: str) -> str:
    match = _PREFIX.match(key)
    return match.group(0) if match else ""


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON of `value` as the SDKs compute it to check a request's signature.

    Both SDKs canonicalise the parsed body, in which every number is a double: inngest-js's JSON.parse makes it
    one, and inngest-py's `jcs` formats each int through float(). So an integer beyond +-(2^53-1) is
    canonicalised as the double nearest it (rfc8785 refuses such integers: they are converted first), and one
    beyond a double's range cannot be (UnsignableValue, as for text that is not Unicode)."""
    return request_body(value)[1]


def request_body(value: Any) -> tuple[bytes, bytes]:
    """(the bytes to send, the bytes to sign) of a request body: its canonical JSON both, unless it holds an
    integer beyond 2^53. Such a body is sent as plain JSON, so that an app reads the integer exactly (inngest-py
    does; inngest-js's JSON.parse rounds it, as it rounds any such number), and signed as the SDKs see it."""
    try:
        raw = rfc8785.dumps(value)
        return raw, raw
    except rfc8785.IntegerDomainError:
        pass  # rare: an integer beyond 2^53 somewhere in the value
    except rfc8785.CanonicalizationError as exc:
        raise UnsignableValue(f"the body has no canonical form ({exc}): no signature of it can verify") from None
    signed = _dumps(_as_doubles(value, ""))
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode(), signed


def _dumps(value: Any) -> bytes:
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise UnsignableValue(f"the body has no canonical form ({exc}): no signature of it can verify") from None


def _as_doubles(value: Any, where: str) -> Any:
    """`value` with every integer beyond 2^53 replaced by the double nearest it, as the SDKs parse it."""
    if isinstance(value, dict):
        return {key: _as_doubles(item, f"{where}.{key}" if where else str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_doubles(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
        try:
            return float(value)
        except OverflowError:  # inngest-py's jcs fails on it, inngest-js reads Infinity
            raise UnsignableValue(
                f"{where[:300] or 'the body'} is an integer of {value.bit_length()} bits, beyond the range of the "
                f"numbers the SDKs read (IEEE 754 doubles, up to about 1.8e308): no signature of it can "
                f"verify") from None
    return value


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
