"""Ids the SDKs expect: step ids hashed as they hash them, and ULIDs for events."""

from __future__ import annotations

import hashlib
import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def step_hash(step_id: str, repeat: int = 0) -> str:
    """The SDKs' memo key of a step: SHA-1 of its id; the n-th repeat of an id hashes `<id>:<n>` (n >= 1)."""
    text = step_id if repeat == 0 else f"{step_id}:{repeat}"
    return hashlib.sha1(text.encode()).hexdigest()


def ulid(ms: int | None = None) -> str:
    """A ULID (26 characters of Crockford base32: 48 bits of milliseconds, 80 random bits), as Inngest's ids."""
    value = ((int(time.time() * 1000) if ms is None else ms) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
