"""The store's database backends (runs/store/backends.py), its system checks (runs/checks.py) and how it
announces run changes (runs/store/changes.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, connections, transaction

from runs import client
from runs.checks import check_database, database_problems
from runs.models import Run
from runs.store import changes
from runs.store.backends import PostgreSQLBackend, SQLiteBackend, backend
from runs.store.functions import sync_functions
from tests.integration import live_functions


@pytest.mark.django_db
def test_the_backend_is_the_vendors() -> None:
    expected = SQLiteBackend if connection.vendor == "sqlite" else PostgreSQLBackend
    assert type(backend()) is expected


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite connection settings")
@pytest.mark.django_db(transaction=True)
def test_a_new_sqlite_connection_is_immediate_waits_when_busy_and_uses_wal() -> None:
    # The project's settings set none of these: the backend does, on every new connection.
    assert "transaction_mode" not in connection.settings_dict["OPTIONS"]
    fresh = connections.create_connection("default")
    try:
        with fresh.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            assert cursor.fetchone()[0] == 30_000
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
        assert fresh.transaction_mode == "IMMEDIATE"
    finally:
        fresh.close()


def database(**entry: Any) -> dict[str, Any]:
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": "/tmp/x.sqlite3", **entry}


def ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


def test_the_system_check_refuses_an_in_memory_sqlite_database() -> None:
    assert ids(database_problems(database(NAME=":memory:"))) == ["runs.E002"]
    assert ids(database_problems(database(NAME="file:db?mode=memory&cache=shared"))) == ["runs.E002"]
    assert database_problems(database()) == []


def test_the_system_check_warns_about_a_deferred_sqlite_transaction_mode() -> None:
    assert ids(database_problems(database(OPTIONS={"transaction_mode": "DEFERRED"}))) == ["runs.W001"]
    assert database_problems(database(OPTIONS={"transaction_mode": "IMMEDIATE"})) == []


def test_the_system_check_refuses_an_unsupported_database() -> None:
    assert ids(database_problems({"ENGINE": "django.db.backends.mysql", "NAME": "x"})) == ["runs.E001"]
    assert database_problems({"ENGINE": "django.db.backends.postgresql", "NAME": "x"}) == []


def test_this_projects_settings_pass_the_check() -> None:
    assert check_database() == []


class Recorder:
    def __init__(self) -> None:
        self.changes: list[dict[str, Any]] = []

    def listening(self) -> bool:
        return True

    def run_changed(self, change: dict[str, Any]) -> None:
        self.changes.append(change)


@pytest.fixture
def recorder() -> Any:
    listener = Recorder()
    changes.subscribe(listener)
    yield listener
    changes.unsubscribe(listener)


@pytest.mark.django_db(transaction=True)
def test_the_store_announces_a_run_change_to_its_listeners_after_the_commit(recorder: Recorder) -> None:
    sync_functions(live_functions.app.functions.values())
    with transaction.atomic():
        event_id = client.send(live_functions.ECHO_EVENT, {"n": 1})
        assert recorder.changes == []  # not before the commit
    run = Run.objects.get(event_id=event_id)
    assert [(c["id"], c["status"], c["version"]) for c in recorder.changes] == [(run.id, "queued", 1)]
    assert {"root_run_id", "function_id", "app_id", "parent_run_id", "ts"} <= recorder.changes[0].keys()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_is_never_announced(recorder: Recorder) -> None:
    sync_functions(live_functions.app.functions.values())
    with pytest.raises(RuntimeError), transaction.atomic():
        client.send(live_functions.ECHO_EVENT, {"n": 2})
        raise RuntimeError("roll back")
    assert recorder.changes == []
