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
from django.contrib.sessions.models import Session
from django.test import AsyncClient, Client

from dashboard import live
from dashboard.asgi import application
from runs import client as runs_client
from runs.models import Run
from runs.store.functions import sync_functions
from runs.testing import wait_for_run
from tests.integration import live_functions
from tests.integration.processes import requires_postgres, worker_fleet

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = b"http://localhost"
HOST = b"localhost"  # browsers send the Host they addressed; the Origin must match it (dashboard/origin.py)
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
    return [(b"origin", ORIGIN), (b"host", HOST),
            (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


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
        socket = WebsocketCommunicator(application, path, headers=[(b"origin", ORIGIN), (b"host", HOST)])
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


# --- Hardening (issue 8, items 8, 11, 14): Origin with its port, bad frames, unknown paths, logout -------------

def login_headers(username: str, origin: bytes = ORIGIN, host: bytes = HOST) -> list[tuple[bytes, bytes]]:
    """Handshake headers of a browser logged in as a new user `username` (a session of its own)."""
    browser = Client()
    browser.force_login(get_user_model().objects.create_user(username, password="pw"))
    return [(b"origin", origin), (b"host", host), (b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())]


@pytest.mark.parametrize(("host", "origin", "allowed"), [
    (b"127.0.0.1:8000", b"http://127.0.0.1:8000", True),    # a server on a non-default port, its own page
    (b"localhost:8000", b"http://LOCALHOST:8000", True),     # host names are case-insensitive
    (b"localhost", b"http://localhost:80", True),            # an explicit default port is the same origin
    (b"example.org", b"https://example.org", True),          # behind a TLS proxy: Host has no port, Origin https
    (b"127.0.0.1:8000", b"http://evil.example:8000", False),  # wrong host
    (b"127.0.0.1:8000", b"http://127.0.0.1:9000", False),    # wrong port: another origin on an allowed host
    (b"127.0.0.1:8000", b"http://127.0.0.1", False),         # no port is port 80, not 8000
    (b"localhost", b"http://localhost:8000", False),         # Host on port 80, page on 8000
    (b"evil.example:8000", b"http://evil.example:8000", False),  # Host not in ALLOWED_HOSTS (DNS rebinding)
    (b"127.0.0.1:8000", b"null", False),                     # sandboxed or file:// pages
    (b"127.0.0.1:8000", b"", False),                         # no Origin: not a browser page of ours
])
def test_origin_must_name_the_served_host_and_port(settings: Any, host: bytes, origin: bytes, allowed: bool) -> None:
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "example.org"]
    headers = login_headers("origin-watcher", origin, host)
    if not origin:
        headers = [header for header in headers if header[0] != b"origin"]

    async def scenario() -> None:
        socket = WebsocketCommunicator(application, "/ws/runs/", headers=headers)
        connected, _ = await socket.connect(timeout=5)
        assert connected is allowed
        if allowed:
            assert await socket.receive_json_from(timeout=5) == {"type": "hello"}
            await socket.disconnect()

    run_async(scenario)


@pytest.mark.parametrize("frame", [{"text": "not json {"}, {"text": "[" * 100_000}, {"text": ""},
                                   {"bytes": b"\x00\xffbinary"}], ids=["text", "deep", "empty", "binary"])
def test_a_bad_frame_closes_the_socket_with_4400_without_crashing(cookie_headers: list[tuple[bytes, bytes]],
                                                                   frame: dict[str, Any]) -> None:
    async def scenario() -> None:
        socket = await connect("/ws/runs/", cookie_headers)
        await socket.send_input({"type": "websocket.receive", **frame})
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4400}
        await socket.disconnect()  # re-raises whatever the consumer raised: it must have raised nothing

    run_async(scenario)


def test_a_json_frame_is_ignored_and_the_socket_stays_usable(cookie_headers: list[tuple[bytes, bytes]],
                                                             queued_run: str) -> None:
    async def scenario() -> None:
        socket = await connect("/ws/runs/", cookie_headers)
        await socket.send_json_to({"type": "ping", "from": "a chatty client"})
        await database_sync_to_async(runs_client.cancel_run)(queued_run)
        await next_delta(socket, queued_run, "cancelled", timeout=5)
        await socket.disconnect()

    run_async(scenario)


@pytest.mark.parametrize("path", ["/ws/nope/", "/ws/graph/not a run id/", "/ws/graph/", "/", "/runs/"])
def test_an_unknown_path_closes_with_4404_not_a_500(cookie_headers: list[tuple[bytes, bytes]], path: str) -> None:
    async def scenario() -> None:
        socket = WebsocketCommunicator(application, path, headers=cookie_headers)
        connected, _ = await socket.connect(timeout=5)
        assert connected  # accepted, so that a browser sees the close code
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}
        await socket.disconnect()

    run_async(scenario)


def test_logging_out_closes_the_sessions_sockets_at_once(settings: Any) -> None:
    settings.RUNS_WS_SESSION_CHECK_SECONDS = 600  # the logout itself closes them, not the timer
    leaving = login_headers("leaving")
    staying = login_headers("staying")
    session_cookie = dict(leaving)[b"cookie"].decode().split("=", 1)[1]

    async def scenario() -> None:
        runs = await connect("/ws/runs/", leaving)
        graph = await connect("/ws/graph/some-root/", leaving)
        other = await connect("/ws/runs/", staying)
        browser = AsyncClient()
        browser.cookies["sessionid"] = session_cookie
        response = await browser.post("/accounts/logout/")
        assert response.status_code == 302
        for socket in (runs, graph):
            assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}
            await socket.disconnect()
        assert await other.receive_nothing(timeout=0.2)  # another login's socket stays open
        await other.disconnect()

    run_async(scenario)


@pytest.mark.parametrize("ending", ["session deleted", "password changed", "user deactivated"])
def test_a_socket_closes_when_its_session_ends_without_a_logout(settings: Any, ending: str) -> None:
    """Expiry, an admin deleting sessions, a password change elsewhere: the periodic check closes the socket."""
    settings.RUNS_WS_SESSION_CHECK_SECONDS = 0.05
    ended = login_headers("ended")
    intact = login_headers("intact")
    user = get_user_model().objects.get(username="ended")

    def end_session() -> None:
        if ending == "session deleted":
            Session.objects.filter(session_key=dict(ended)[b"cookie"].decode().split("=", 1)[1]).delete()
        elif ending == "password changed":
            user.set_password("changed")
            user.save()
        else:
            user.is_active = False
            user.save()

    async def scenario() -> None:
        closing = await connect("/ws/runs/", ended)
        staying = await connect("/ws/runs/", intact)
        assert await closing.receive_nothing(timeout=0.2)  # several checks pass while the session is valid
        await database_sync_to_async(end_session)()
        assert await closing.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}
        await closing.disconnect()
        assert await staying.receive_nothing(timeout=0.2)
        await staying.disconnect()

    run_async(scenario)
