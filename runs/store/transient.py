"""Database errors that pass, and the retry that outlasts them.

A PostgreSQL restart, a lost connection, a deadlock or a serialization failure rolls the transaction back and
says nothing about the data: the same transaction, run again a moment later, succeeds. Every other database
error (a value too long, a constraint broken, a NUL byte) is deterministic: retrying cannot help, and a pass
whose commit keeps failing that way must fail its run instead of coming back at every lease expiry.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connection

from runs import conf
from runs.exceptions import CommitRefused

logger = logging.getLogger("runs.store")

T = TypeVar("T")

# SQLSTATE classes that say "try again": connection exceptions, transaction rollback (serialization failure,
# deadlock), insufficient resources, operator intervention (shutdown, starting up).
_TRANSIENT_CLASSES = ("08", "40", "53", "57")
REFUSED_ATTEMPTS = 2  # a deterministic refusal is tried once more (a unique race resolves), then reported


def is_transient(exc: BaseException) -> bool:
    if not isinstance(exc, DatabaseError):
        return False
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate:
        return sqlstate[:2] in _TRANSIENT_CLASSES
    if isinstance(cause, sqlite3.OperationalError):
        return "locked" in str(cause) or "busy" in str(cause)
    # No SQLSTATE: the connection broke before the server could say anything.
    return isinstance(exc, OperationalError | InterfaceError)


def _is_connection_error(exc: BaseException) -> bool:
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    return isinstance(exc, InterfaceError) or not sqlstate or sqlstate[:2] in ("08", "57")


def retrying(work: Callable[[], T], what: str, *, refuse: bool = False) -> T:
    """Run `work` (one whole transaction) until it succeeds, retrying transient errors with backoff for up to
    RUNS_DB_RETRY_SECONDS. With `refuse`, a deterministic error is tried once more, then raised as
    CommitRefused carrying the database's message. Inside an outer transaction nothing can be retried."""
    if connection.in_atomic_block:
        return work()
    deadline = time.monotonic() + conf.get("RUNS_DB_RETRY_SECONDS")
    delay, refusals = 0.02, 0
    while True:
        try:
            return work()
        except DatabaseError as exc:
            if is_transient(exc):
                if time.monotonic() + delay > deadline:
                    raise
                logger.warning("%s: transient database error, retrying in %.2f s: %s", what, delay,
                               str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
                if _is_connection_error(exc):
                    with suppress(DatabaseError):
                        connection.close()  # the next attempt opens a new connection
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 1.0)
                continue
            refusals += 1
            if not refuse:
                raise
            if refusals >= REFUSED_ATTEMPTS:
                raise CommitRefused(f"{what}: the database refused it {refusals} times: "
                                    f"{type(exc).__name__}: {str(exc).strip()}") from exc
