"""Helpers for users' tests (and ours): an in-process worker and waiting for runs to finish."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from runs.domain import RunInfo
from runs.loading import load_functions
from runs.sdk.app import all_functions
from runs.store.functions import sync_functions
from runs.store.reads import get_run
from runs.worker import Worker


@contextmanager
def worker(*, threads: int | None = None) -> Iterator[Worker]:
    """Run a worker against the current database while the block runs.

    On entry it finds functions as `manage.py worker` does (every installed app's `functions.py` and the
    modules RUNS_FUNCTION_MODULES names) and syncs every registered function (each time, so tests that define
    functions see them); on exit it joins its threads and closes their database connections.
    """
    load_functions()
    sync_functions(all_functions())
    running = Worker(threads=threads)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def wait_for_run(run_id: str, timeout: float = 10) -> RunInfo:
    """Return the run once it is terminal; TimeoutError if it is not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        info = get_run(run_id)
        if info.is_terminal:
            return info
        if time.monotonic() >= deadline:
            raise TimeoutError(f"run {run_id} is still {info.status} after {timeout} s")
        time.sleep(0.01)
