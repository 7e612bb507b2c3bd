"""Shared fixtures. The database is PostgreSQL when DATABASE_URL names one, else a SQLite file (embedded)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runs import testing
from runs.worker import Worker


@pytest.fixture(autouse=True)
def _no_failed_logins_counted() -> None:
    """Each test starts with no failed logins counted: the login throttle keeps its counts in the process's
    cache, so earlier tests' failed logins (the fuzz test sends many from one address) would lock later tests
    out. Only a cache of this process is cleared, never a shared one."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    cache = caches["default"]
    if isinstance(cache, LocMemCache):
        cache.clear()


@pytest.fixture(autouse=True)
def _no_live_poll_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-memory layer's poll for other processes' commits (dashboard/live_poll.py) is a thread that would
    outlive the test that opened a socket and read the test database between tests. Tests call
    `live_poll.POLLER.poll()` themselves; the e2e servers (subprocesses) run the real thread."""
    from dashboard import live_poll

    monkeypatch.setattr(live_poll, "ensure_polling", lambda listening, publish: None)


@pytest.fixture
def fast_retries(settings):  # type: ignore[no-untyped-def]
    settings.RUNS_RETRY_BASE_SECONDS = 0.01
    return settings


@pytest.fixture
def worker(transactional_db, fast_retries) -> Iterator[Worker]:  # type: ignore[no-untyped-def]
    """An in-process worker against the test database (committed data: tests use transactional_db)."""
    with testing.worker() as running:
        yield running
