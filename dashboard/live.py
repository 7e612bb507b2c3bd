"""Live updates: after a commit changes runs, small deltas go to channel-layer groups.

The store announces run changes (runs/store/changes.py); this module subscribes to them when the dashboard app
is ready (dashboard/apps.py) and owns everything about channel layers and event loops.

Groups: `runs` (the runs page) and `graph.<root run id>` (one invocation tree). Each delta carries the run's
version, so a browser that sees a gap (or reconnects) fetches a fresh snapshot instead.

Publishing never blocks a worker: deltas go onto a queue after commit, and one publisher thread sends them.
With the in-memory channel layer (embedded mode) the consumers live on the web server's event loop, so the
publisher hands its sends to that loop; with Redis it sends from a loop of its own.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import defaultdict
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from dashboard import live_poll

logger = logging.getLogger("runs.live")

RUNS_GROUP = "runs"
_queue: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
_lock = threading.Lock()
_publisher: threading.Thread | None = None
_home_loop: asyncio.AbstractEventLoop | None = None


def graph_group(root_run_id: str) -> str:
    return f"graph.{root_run_id}"


def _uses_redis() -> bool:
    backend = str(getattr(settings, "CHANNEL_LAYERS", {}).get("default", {}).get("BACKEND", ""))  # may be unset
    return "redis" in backend.lower()


def enabled() -> bool:
    """Someone can listen: a cross-process layer (Redis), or websocket consumers in this very process."""
    return _uses_redis() or _home_loop is not None


def attach_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Called by consumers on connect: deltas for in-process consumers are sent on their loop. With the
    in-memory layer, other processes' commits reach them through a poll (dashboard/live_poll.py)."""
    global _home_loop
    _home_loop = loop
    if not _uses_redis():
        live_poll.ensure_polling(lambda: _open_sockets > 0, PUBLISHER.run_changed)


def prime_poll() -> None:
    """Synchronous (consumers call it through database_sync_to_async before their "hello"): with the
    in-memory layer, the poll for other processes' commits takes its first look now."""
    if not _uses_redis():
        live_poll.POLLER.prime()


_open_sockets = 0  # websockets open in this process (consumers count themselves in and out)


def socket_opened() -> None:
    global _open_sockets
    with _lock:
        _open_sockets += 1


def socket_closed() -> None:
    global _open_sockets
    with _lock:
        _open_sockets = max(0, _open_sockets - 1)


class ChannelLayerPublisher:
    """The store's run-change listener (runs.store.changes.RunChangeListener) that feeds the websockets."""

    def listening(self) -> bool:
        return enabled()

    def run_changed(self, change: dict[str, Any]) -> None:
        """After commit: `change` holds id, root_run_id, status, version and ts, and what the pages show."""
        live_poll.POLLER.saw(change)  # the poll for other processes' commits must not announce it again
        _ensure_publisher()
        _queue.put(change)


PUBLISHER = ChannelLayerPublisher()


def _ensure_publisher() -> None:
    global _publisher
    with _lock:
        if _publisher is None or not _publisher.is_alive():
            _publisher = threading.Thread(target=_publish_forever, name="runs-live-publisher", daemon=True)
            _publisher.start()


def _publish_forever() -> None:
    own_loop = asyncio.new_event_loop()
    while True:
        batch = [_queue.get()]
        while len(batch) < 500:
            try:
                batch.append(_queue.get_nowait())
            except queue.Empty:
                break
        try:
            _send(batch, own_loop)
        except Exception:
            logger.exception("publishing %d live updates failed", len(batch))


def _send(batch: list[dict[str, Any]], own_loop: asyncio.AbstractEventLoop) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for delta in batch:
        by_group[RUNS_GROUP].append(delta)
        by_group[graph_group(delta["root_run_id"])].append(delta)

    async def send_all() -> None:
        for group, deltas in by_group.items():
            await layer.group_send(group, {"type": "runs.delta", "deltas": deltas})

    home = _home_loop
    if home is not None and not home.is_closed() and not _uses_redis():
        asyncio.run_coroutine_threadsafe(send_all(), home).result(timeout=5)
    else:
        own_loop.run_until_complete(send_all())


def flush(timeout: float = 5.0) -> None:
    """Wait until queued deltas were handed to the channel layer (tests)."""
    deadline = time.monotonic() + timeout
    while not _queue.empty() and time.monotonic() < deadline:
        time.sleep(0.005)
