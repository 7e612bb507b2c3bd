"""Wake-ups: tell idle workers that a run became ready, after the commit that made it so.

In-process workers wait on a threading.Condition; workers in other processes LISTEN on PostgreSQL's
`runs_ready` channel (pg_notify inside the transaction is delivered on commit, never before).
"""

from __future__ import annotations

import threading
import uuid

from django.db import connection, transaction

from runs.store.backends import backend

CHANNEL = "runs_ready"
# Sent as the NOTIFY payload, so a process ignores the echo of its own notifications (it woke itself already).
PROCESS_TOKEN = uuid.uuid4().hex

_condition = threading.Condition()
_generation = 0


def runs_ready() -> None:
    """Call inside the transaction that makes runs claimable now."""
    backend().notify(connection, CHANNEL, PROCESS_TOKEN)
    transaction.on_commit(wake_local)


def wake_local(threads: int = 1) -> None:
    """Wake `threads` idle executor threads (one by default: a thread that finds work wakes the next)."""
    global _generation
    with _condition:
        _generation += 1
        _condition.notify(threads)


def wake_all() -> None:
    global _generation
    with _condition:
        _generation += 1
        _condition.notify_all()


def generation() -> int:
    return _generation


def wait_for_wakeup(seen_generation: int, timeout: float) -> int:
    """Block until a wake-up newer than `seen_generation` or the timeout; returns the current generation."""
    with _condition:
        if _generation == seen_generation:
            _condition.wait(timeout)
        return _generation
