"""What differs between the databases Tributary runs on, behind one object per vendor.

PostgreSQL: claims lock rows with `FOR UPDATE SKIP LOCKED`, flow control serialises keys with advisory locks,
and commits wake workers in other processes with NOTIFY (they LISTEN on a connection of their own).
SQLite (embedded): one writer at a time does all of that, provided every transaction takes the write lock when
it begins (IMMEDIATE: a read is never upgraded to a write mid-transaction, which the compare-and-set claims rely
on) and waits for it instead of failing; the backend sets both on every new connection itself (WAL too), so a
project's DATABASES entry needs nothing special. The code elsewhere asks `backend()` and never `vendor`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, ClassVar

from django.db import connection as default_connection
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from runs import conf
from runs.store import sql

_PREPARE_ONLY_WHEN_ASKED = 2**31 - 1  # psycopg's threshold: no statement is prepared for having run often
SUPPORTED_VENDORS = ("postgresql", "sqlite")
SQLITE_BUSY_TIMEOUT_SECONDS = 30  # unless the DATABASES entry sets OPTIONS["timeout"] itself


class DatabaseBackend:
    vendor: ClassVar[str] = ""
    claim_lock: ClassVar[str] = ""  # appended to the claim's and the heartbeat's row selection
    share_lock: ClassVar[str] = ""  # appended to a claim's read of the paused functions
    delivers_notifications: ClassVar[bool] = False  # other processes can be woken by a commit (LISTEN)
    has_concurrent_writers: ClassVar[bool] = False  # another transaction's claim can be in flight meanwhile
    single_statement_hops: ClassVar[bool] = False  # an invoke hop's commits as one statement (runs/store/hops.py)

    def configure(self, connection: BaseDatabaseWrapper) -> None:
        """Called on every new connection (the `connection_created` signal)."""

    @contextmanager
    def prepared_cursor(self, connection: BaseDatabaseWrapper) -> Iterator[Any]:
        """A cursor for the hot path's statements, which the database may parse and plan once per connection
        instead of at every execution (PostgreSQL); a plain cursor elsewhere. Its statements type what the
        database cannot infer (`%s::timestamptz` where a NULL may be sent)."""
        with connection.cursor() as cursor:
            yield cursor

    def lock_keys(self, connection: BaseDatabaseWrapper, keys: Iterable[str]) -> None:
        """Serialise work on these keys until the transaction ends."""

    def unlocked_runs(self, connection: BaseDatabaseWrapper, run_ids: list[str]) -> int:
        """How many of these runs no other transaction holds a row lock on (all of them without concurrent
        writers)."""
        return len(run_ids)

    def notify(self, connection: BaseDatabaseWrapper, channel: str, payload: str) -> None:
        """Inside a transaction: tell listeners in other processes once it commits."""

    @contextmanager
    def listening(self, connection: BaseDatabaseWrapper, channel: str) -> Iterator[Any]:
        """A dedicated connection LISTENing on `channel`; yields a callable(timeout) -> payloads received."""
        raise NotImplementedError(f"{self.vendor} delivers no notifications between processes")
        yield  # pragma: no cover

    # SQL expressions of the metrics roll-up (runs/store/metrics.py), over columns of runs_run.
    def epoch_minute(self, column: str) -> str:
        """The minute since the epoch (UTC) of a timestamp column, as an integer."""
        raise NotImplementedError

    def milliseconds_between(self, start: str, end: str) -> str:
        raise NotImplementedError

    def last_attempt_start(self) -> str:
        """When a retried run's last attempt began (its attempts_history's last entry), else NULL."""
        raise NotImplementedError


class PostgreSQLBackend(DatabaseBackend):
    vendor = "postgresql"
    claim_lock = "FOR UPDATE SKIP LOCKED"
    share_lock = "FOR SHARE"
    delivers_notifications = True
    has_concurrent_writers = True
    single_statement_hops = True

    def lock_keys(self, connection: BaseDatabaseWrapper, keys: Iterable[str]) -> None:
        ids = sorted({_lock_id(key) for key in keys})
        if ids:
            with connection.cursor() as cursor:
                cursor.execute(sql.PG_ADVISORY_LOCKS, [ids])

    def unlocked_runs(self, connection: BaseDatabaseWrapper, run_ids: list[str]) -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql.PG_UNLOCKED_RUNS, [run_ids])
            return len(cursor.fetchall())

    @contextmanager
    def prepared_cursor(self, connection: BaseDatabaseWrapper) -> Iterator[Any]:
        # Django's cursors bind parameters on the client (one text per execution: parsed and planned each time).
        # A statement of many CTEs costs the server more to plan than to execute (0.2-0.9 ms against 0.1-0.3),
        # so these are sent with server-side parameters and prepared on their first execution; psycopg keeps
        # the prepared statements per connection. Wrapped like Django's own cursors (errors, debug, counting).
        connection = connections[connection.alias]  # the thread's wrapper itself, not the proxy (hot path)
        connection.ensure_connection()
        if not conf.get("RUNS_PREPARED_STATEMENTS"):
            with connection.cursor() as plain:
                yield plain
            return
        if connection.connection.prepare_threshold is None:
            # The connection's first prepared statement (connections that never prepare, the dashboard's, pay
            # nothing). Django turns preparing off (None) for every statement; here only these ask for it. They
            # are planned once, for any parameters: by default PostgreSQL plans the first five executions for
            # their values, then keeps doing so whenever it estimates a generic plan dearer, which for a
            # statement of many CTEs costs more than executing it.
            connection.connection.prepare_threshold = _PREPARE_ONLY_WHEN_ASKED
            connection.connection.execute(sql.PG_GENERIC_PLANS)
        raw = _preparing_cursor_class()(connection.connection, row_factory=_dict_row())
        cursor = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
        try:
            yield cursor
        finally:
            raw.close()

    def notify(self, connection: BaseDatabaseWrapper, channel: str, payload: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql.PG_NOTIFY, [channel, payload])

    @contextmanager
    def listening(self, connection: BaseDatabaseWrapper, channel: str) -> Iterator[Any]:
        import psycopg  # only a PostgreSQL deployment needs the driver

        params = connection.settings_dict
        conninfo = {"dbname": params["NAME"], "user": params.get("USER") or None,
                    "password": params.get("PASSWORD") or None, "host": params.get("HOST") or None,
                    "port": params.get("PORT") or None}
        with psycopg.connect(autocommit=True, **{k: v for k, v in conninfo.items() if v}) as listener:
            listener.execute(sql.PG_LISTEN.format(channel=channel))

            def received(timeout: float) -> list[str]:
                return [note.payload for note in listener.notifies(timeout=timeout, stop_after=1)]

            yield received

    def epoch_minute(self, column: str) -> str:
        return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column}) / 60) AS BIGINT)"

    def milliseconds_between(self, start: str, end: str) -> str:
        return f"(EXTRACT(EPOCH FROM ({end} - {start})) * 1000)"

    def last_attempt_start(self) -> str:
        return "CAST(attempts_history -> -1 ->> 'started_at' AS TIMESTAMPTZ)"


def _dict_row() -> Any:
    from psycopg.rows import dict_row  # rows by column name, named once per result (sql.named_rows)

    return dict_row


@cache
def _preparing_cursor_class() -> type:
    import psycopg  # only a PostgreSQL deployment needs the driver

    class PreparingCursor(psycopg.Cursor):  # type: ignore[type-arg]
        def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None,
                    binary: bool | None = None) -> Any:
            return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)

    return PreparingCursor


class SQLiteBackend(DatabaseBackend):
    vendor = "sqlite"

    def configure(self, connection: BaseDatabaseWrapper) -> None:
        # IMMEDIATE unless the project chose a mode itself (the system check warns about any other mode).
        if getattr(connection, "transaction_mode", None) is None:
            connection.transaction_mode = "IMMEDIATE"  # type: ignore[attr-defined]
        pragmas = ["PRAGMA synchronous=NORMAL"]
        if not connection.is_in_memory_db():  # type: ignore[attr-defined]
            pragmas.insert(0, "PRAGMA journal_mode=WAL")  # readers never block the writer
        if "timeout" not in connection.settings_dict.get("OPTIONS", {}):
            pragmas.append(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")  # wait, never "locked"
        raw = connection.connection
        for pragma in pragmas:
            raw.execute(pragma)

    # Django stores SQLite datetimes as UTC text ("2026-12-05 08:00:00.123456"), which these functions read;
    # attempts_history holds ISO 8601 with an offset, which julianday() reads too.
    def epoch_minute(self, column: str) -> str:
        return f"(CAST(strftime('%%s', {column}) AS INTEGER) / 60)"

    def milliseconds_between(self, start: str, end: str) -> str:
        return f"((julianday({end}) - julianday({start})) * 86400000.0)"

    def last_attempt_start(self) -> str:
        return "json_extract(attempts_history, '$[#-1].started_at')"


_BACKENDS: dict[str, DatabaseBackend] = {"postgresql": PostgreSQLBackend(), "sqlite": SQLiteBackend()}
_UNSUPPORTED = DatabaseBackend()


def backend(connection: BaseDatabaseWrapper | None = None) -> DatabaseBackend:
    """The backend of `connection` (the default connection if None)."""
    return _BACKENDS.get((connection or default_connection).vendor, _UNSUPPORTED)


def on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    backend(connection).configure(connection)


def _lock_id(key: str) -> int:
    return zlib.crc32(key.encode()) - 2**31  # a signed 32-bit id; collisions only serialise unrelated keys
