"""Read-only dashboard queries on a read replica: `RUNS_READ_REPLICA_ALIAS` names a database alias, and the
router here sends the dashboard's reads there (docs/scaling.md).

Only reads the dashboard marks as read-only go to the replica: those of GET and HEAD requests
(`ReplicaReadsMiddleware`), or any code inside `replica_reads()`. Everything else stays on the default
database, whatever the model:
- writes (the router never picks a database for them: the default);
- any read inside a transaction on the default database: the store reads rows it then locks or writes
  (select_for_update runs in a transaction), and a transaction must read its own writes;
- the worker and intake, which never mark their reads.
A replica lags its primary, so a page may show a run a moment old; live updates come from the primary's
workers through the channel layer, not from the replica.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse

from runs import conf

SAFE_METHODS = ("GET", "HEAD")
_reading: ContextVar[bool] = ContextVar("tributary_replica_reads", default=False)


def replica_alias() -> str | None:
    return conf.get("RUNS_READ_REPLICA_ALIAS") or None


@contextmanager
def replica_reads() -> Iterator[None]:
    """Reads in this block (outside transactions) may go to the replica."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


class ReadReplicaRouter:
    """DATABASE_ROUTERS entry: the replica for marked reads outside transactions, else no opinion (default)."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        alias = replica_alias()
        if alias is None or not _reading.get():
            return None
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return None  # a transaction reads what it locks and writes, on the primary
        return alias

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return True  # the replica holds the primary's rows: objects from either may be related

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db == replica_alias() else None  # the replica gets its schema by replication


class ReplicaReadsMiddleware:
    """Marks GET and HEAD requests' reads for the replica (a no-op without RUNS_READ_REPLICA_ALIAS)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in SAFE_METHODS and replica_alias() is not None:
            with replica_reads():
                return self.get_response(request)
        return self.get_response(request)
