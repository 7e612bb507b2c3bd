"""A hop and the pass it hands over, committed together (PostgreSQL).

A pass that ends in an invoke hop hands a run to its own thread: the child it started, or the parent its end
resumed (runs/store/hops.py). Committing the hop, then the handed run's pass, costs two commits, two WAL flushes,
where one would do: nothing outside the database happens in between. So the hop's statement runs in a
transaction left open, and the handed run's pass commits it with its own outcome: one commit for two passes.

What keeps every guarantee:
- Each pass is still atomic and lease-checked: its statements are the same ones, in one transaction instead of
  two. At most two passes share a commit (the second never leaves its own open), so locks are held briefly.
- Nothing leaves the process before the commit: the handed pass settles it before a step's code runs, before
  a checkpoint, before calling an SDK app; a worker that stops settles it before giving the run back.
- A failure loses nothing: if the shared transaction fails (a transient error, a refusal, the handed pass
  raising), it is rolled back and the hop is written again alone, in its own transaction (its write is kept);
  the handed pass is then committed alone, or, if the hop no longer applies (the run was cancelled
  meanwhile), stopped with LeaseLost: it did nothing outside the process, so it is as if it had not started.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from django.db import DatabaseError, transaction

from runs import conf
from runs.domain import ClaimedRun
from runs.exceptions import LeaseLost
from runs.store.backends import backend
from runs.store.claims import release
from runs.store.transient import retrying

logger = logging.getLogger("runs.store")


class Hop(Protocol):
    @property
    def next_run(self) -> ClaimedRun | None: ...


H = TypeVar("H", bound=Hop)


@dataclass(slots=True)
class _Open:
    atomic: Any  # the entered transaction.atomic() of the hop
    write: Callable[[], Hop | None]  # the hop's write, to do again alone if the shared commit fails
    handed: ClaimedRun  # the run it handed to this thread


_local = threading.local()


def _open() -> _Open | None:
    return getattr(_local, "open", None)


def is_open() -> bool:
    """Whether this thread holds a hop's transaction for the pass it is executing."""
    return _open() is not None


def run(write: Callable[[], H | None], *, share: bool) -> H | None:
    """Do a hop's write (one statement and its announcements). With `share`, when it hands a run to this thread,
    its transaction stays open for that run's pass to commit; otherwise it commits at once."""
    if not share or is_open() or not backend().single_statement_hops or not conf.get("RUNS_SHARED_COMMITS"):
        return write()
    atomic = transaction.atomic()
    atomic.__enter__()
    try:
        hop = write()
    except BaseException:
        atomic.__exit__(*sys.exc_info())  # rolled back: the caller retries or takes the general path
        raise
    if hop is None or hop.next_run is None:
        atomic.__exit__(None, None, None)
        return hop
    _local.open = _Open(atomic=atomic, write=write, handed=hop.next_run)
    return hop


def settle() -> bool:
    """Commit the shared transaction now, if any. True: committed (or nothing to commit). False: the commit
    failed, so the hop was written again alone and the handed pass's writes, if any, are to be done again.
    Raises LeaseLost when the hop no longer hands this thread its run."""
    held = _open()
    if held is None:
        return True
    _local.open = None
    try:
        held.atomic.__exit__(None, None, None)
        return True
    except DatabaseError as exc:
        logger.warning("a shared commit failed (%s); the hop is written again alone", exc)
    _write_again(held)
    return False


def abandon() -> None:
    """Roll the shared transaction back (the handed pass failed) and write the hop again alone. Raises LeaseLost
    when the hop no longer hands this thread its run."""
    held = _open()
    if held is None:
        return
    _local.open = None
    try:
        held.atomic.__exit__(DatabaseError, DatabaseError("abandoned"), None)
    except DatabaseError as exc:  # (a broken connection: nothing was committed)
        logger.warning("rolling back a shared commit failed (%s); the hop is written again alone", exc)
    _write_again(held)


def _write_again(held: _Open) -> None:
    again = retrying(held.write, f"handing over run {held.handed.id}")
    if again is not None and again.next_run == held.handed:
        return
    if again is not None and again.next_run is not None:
        release(again.next_run)  # handed again, but changed meanwhile: due at once, for a fresh pass
    raise LeaseLost(f"run {held.handed.id} is no longer handed to this worker (its hop changed meanwhile)")
