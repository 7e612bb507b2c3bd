"""Sortable ids: 48 bits of milliseconds and 80 random bits, in Crockford's base32 (26 characters)."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id() -> str:
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def id_floor(moment_ms: int) -> str:
    """The smallest id made at `moment_ms` (milliseconds since the epoch): every id made at or after that
    millisecond sorts at or above it, every earlier one below. Range partitions of the runs table by id are
    time partitions (docs/scaling.md)."""
    value = moment_ms << 80
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))
