"""Live updates for SDK runs: the dashboard's websockets on the live Tributary of the SDK tests (Daphne and the
embedded worker in one process, the in-memory channel layer) deliver an inngest-py run's status changes as it
goes, through the runs page's socket (`/ws/runs/`) and its tree's socket (`/ws/graph/<root>/`), to a browser
logged in with a session cookie (one SDK kind: the path from the HTTP driver's commits to the sockets is the
same for every SDK).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tests.sdk.harness import SdkAppProcess, TributaryServer, event_runs, send
from tests.sdk.probing import synced


@contextmanager
def live_socket(server: TributaryServer, path: str, cookie: str) -> Iterator[Any]:
    """A websocket of the dashboard as the page opens it (same Origin, session cookie), once it said hello."""
    from websockets.sync.client import connect
    from websockets.typing import Origin

    url = server.url.replace("http://", "ws://", 1)
    with connect(f"{url}{path}", origin=Origin(server.url), additional_headers={"Cookie": cookie},
                 open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10)) == {"type": "hello"}
        yield socket


def deltas_until_completed(socket: Any, run_id: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The deltas about `run_id` the socket delivers, in order, up to the one that says it completed."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1]["status"] != "completed":
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no 'completed' delta for {run_id} within {timeout} s; seen {seen}")
        message = json.loads(socket.recv(timeout=remaining))
        assert message["type"] == "deltas", message
        seen += [delta for delta in message["deltas"] if delta["id"] == run_id]
    return seen


def test_the_sockets_deliver_an_sdk_runs_status_changes_up_to_completed(
        tributary_server: TributaryServer, sdk_app: Callable[..., SdkAppProcess]) -> None:
    from django.test import Client

    from tests.helpers import operator

    synced(sdk_app, "py")
    browser = Client()
    browser.force_login(operator("live-watcher", allowed=False))
    cookie = f"sessionid={browser.cookies['sessionid'].value}"

    with live_socket(tributary_server, "/ws/runs/", cookie) as runs_socket:
        [run] = event_runs(tributary_server, send(tributary_server, "probe/sleep"))
        run_id = run["run_id"]
        # The run sleeps 1 s: its tree's socket opens meanwhile and sees the rest of its life.
        with live_socket(tributary_server, f"/ws/graph/{run_id}/", cookie) as graph_socket:
            on_graph = deltas_until_completed(graph_socket, run_id)
        on_runs = deltas_until_completed(runs_socket, run_id)

    statuses = [delta["status"] for delta in on_runs]
    # Every change of the run arrives, in order: queued, ran, slept (waiting), ran again after the nap, completed
    # ('queued -> running' and 'waiting -> running' as the engine commits them).
    assert statuses[0] in ("queued", "running") and "waiting" in statuses, statuses
    assert statuses.index("running") < statuses.index("waiting") < len(statuses) - 2, statuses
    # No change is missing: the versions have no gap (a gap makes a page fetch a snapshot instead).
    versions = [delta["version"] for delta in on_runs]
    assert versions == list(range(versions[0], versions[0] + len(versions))), on_runs
    last = on_runs[-1]
    assert (last["function_id"], last["root_run_id"]) == ("probe-sleep", run_id), last
    assert on_graph[-1]["version"] == last["version"], (on_graph, last)
