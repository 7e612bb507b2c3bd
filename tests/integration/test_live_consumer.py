"""Live updates over websockets (issue 4, "Live" and "Security"): /ws/runs/ and /ws/graph/<root>/.

Anonymous sockets are closed with 4401, a foreign Origin is refused, a logged-in socket receives the deltas of
runs committed by the engine: in this process (embedded, in-memory layer) and from a separate worker process
through the Redis channel layer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from dashboard.asgi import application
from runs import client as runs_client
from runs.models import Run
from runs.store import live
from runs.store.functions import sync_functions
from runs.testing import wait_for_run
from tests.integration import live_functions
from tests.integration.processes import requires_postgres, worker_fleet

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = b"http://localhost"
REDIS_LAYER_URL = "redis://127.0.0.1:6379/7"  # a database of its own: other tests and benches use others


def redis_is_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_LAYER_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(autouse=True)
def detached_live(monkeypatch: pytest.MonkeyPatch) -> None:
    """Consumers attach their loop to the publisher; forget it after the test (that loop is closed then)."""
    monkeypatch.setattr(live, "_home_loop", None)


@pytest.fixture
def cookie_headers(client: Client) -> list[tuple[bytes, bytes]]:
    user = get_user_model().objects.create_user("watcher", password="pw")
    client.force_login(user)
    return [(b"origin", ORIGIN), (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


@pytest.fixture
def queued_run() -> str:
    """A run that nobody executes (no worker): its changes come only from what the test does."""
    sync_functions(live_functions.app.functions.values())
    event_id = runs_client.send(live_functions.ECHO_EVENT, {"n": 1})
    return Run.objects.get(event_id=event_id).id


def run_async(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


async def connect(path: str, headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await socket.connect(timeout=5)
    assert connected
    assert await socket.receive_json_from(timeout=5) == {"type": "hello"}
    return socket


async def next_delta(socket: WebsocketCommunicator, run_id: str, status: str, timeout: float) -> dict[str, Any]:
    """Read messages until a delta says `run_id` is `status`."""
    while True:
        message = await socket.receive_json_from(timeout=timeout)
        assert message["type"] == "deltas"
        for delta in message["deltas"]:
            if delta["id"] == run_id and delta["status"] == status:
                return delta


@pytest.mark.parametrize("path", ["/ws/runs/", "/ws/graph/r1/"])
def test_anonymous_socket_is_closed_with_4401(path: str) -> None:
    async def scenario() -> None:
        socket = WebsocketCommunicator(application, path, headers=[(b"origin", ORIGIN)])
        await socket.connect(timeout=5)
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}
        await socket.wait()

    run_async(scenario)


def test_a_foreign_origin_is_refused(cookie_headers: list[tuple[bytes, bytes]]) -> None:
    headers = [(name, b"http://evil.example" if name == b"origin" else value) for name, value in cookie_headers]

    async def scenario() -> None:
        socket = WebsocketCommunicator(application, "/ws/runs/", headers=headers)
        connected, _ = await socket.connect(timeout=5)
        assert not connected

    run_async(scenario)


def test_graph_socket_receives_the_delta_of_a_committed_change(cookie_headers: list[tuple[bytes, bytes]],
                                                               queued_run: str) -> None:
    """Embedded mode: the in-memory layer, the engine's commit in this process (a cancel)."""

    async def scenario() -> None:
        graph = await connect(f"/ws/graph/{queued_run}/", cookie_headers)
        runs = await connect("/ws/runs/", cookie_headers)
        elsewhere = await connect("/ws/graph/some-other-root/", cookie_headers)
        await database_sync_to_async(runs_client.cancel_run)(queued_run)
        for socket in (graph, runs):
            delta = await next_delta(socket, queued_run, "cancelled", timeout=5)
            assert delta["root_run_id"] == queued_run and delta["function_id"] == "live-echo"
            assert delta["version"] > 1 and delta["ts"] > 0
        assert await elsewhere.receive_nothing(timeout=0.2)
        for socket in (graph, runs, elsewhere):
            await socket.disconnect()

    run_async(scenario)


@requires_postgres
@pytest.mark.skipif(not redis_is_up(), reason=f"needs Redis at {REDIS_LAYER_URL}")
def test_a_worker_process_delta_reaches_the_socket_through_redis(
        settings: Any, tmp_path: Path, cookie_headers: list[tuple[bytes, bytes]], queued_run: str) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": [REDIS_LAYER_URL]}}}
    with worker_fleet(tmp_path, ["tests.integration.live_functions"]) as fleet:
        fleet.env["REDIS_URL"] = REDIS_LAYER_URL

        async def scenario() -> None:
            graph = await connect(f"/ws/graph/{queued_run}/", cookie_headers)
            worker = fleet.start()  # only the worker process runs and completes the run
            delta = await next_delta(graph, queued_run, "completed", timeout=30)
            assert delta["root_run_id"] == queued_run
            fleet.assert_alive(worker)
            await graph.disconnect()

        run_async(scenario)
        assert wait_for_run(queued_run, timeout=10).output == {"n": 1}
