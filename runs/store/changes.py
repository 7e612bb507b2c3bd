"""How the store announces run changes: listeners registered here hear of each change after its commit.

The store knows nothing of who listens (the dashboard's live updates subscribe in dashboard/live.py, over
channel layers and event loops the store never sees). A change is a small dict: the run's id, root_run_id,
parent_run_id, app_id, function_id, status and version (runs/store/rows.py `run_delta`).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from django.db import transaction

logger = logging.getLogger("runs.store")


class RunChangeListener(Protocol):
    def listening(self) -> bool:
        """Cheap, asked inside the transaction: False skips the change (no commit hook is registered)."""

    def run_changed(self, change: dict[str, Any]) -> None:
        """Called once the transaction that made the change committed. Must not block (hand it on)."""


_listeners: list[RunChangeListener] = []


def subscribe(listener: RunChangeListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe(listener: RunChangeListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def run_changed(change: dict[str, Any]) -> None:
    """Inside a transaction: announce this run's new state to the listeners once the transaction commits."""
    listening = [listener for listener in _listeners if listener.listening()]
    if not listening:
        return
    announced = {**change, "ts": int(time.time() * 1000)}
    transaction.on_commit(lambda: _tell(listening, announced))


def _tell(listeners: list[RunChangeListener], change: dict[str, Any]) -> None:
    for listener in listeners:
        try:
            listener.run_changed(change)
        except Exception:  # a listener's fault must not fail the commit hooks after it
            logger.exception("a run-change listener failed")
