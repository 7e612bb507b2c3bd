"""A misbehaving SDK app for the driver tests: a local threaded HTTP server on a free port that answers every
Call Request the way a test sets (status, body, headers, a delay), or hands the raw socket to a test's `respond`
(to trickle bytes, announce a huge body, ...). It records what it was sent."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from runs.inngest import signing


class FakeApp:
    def __init__(self) -> None:
        self.status, self.body, self.delay = 200, b"null", 0.0
        self.headers: dict[str, str] = {}
        self.sign_with: str | None = None  # sign each answer with this key (as a cloud-mode SDK does)
        self.respond: Callable[[BaseHTTPRequestHandler], None] | None = None
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.arrived: list[float] = []  # time.monotonic() of each request
        self.stopping = threading.Event()  # set when the test ends: a `respond` still writing stops
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                app.arrived.append(time.monotonic())
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                app.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                if app.respond is not None:
                    app.respond(self)
                    return
                time.sleep(app.delay)
                self.send_response(app.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(app.body)))
                for name, value in app.headers.items():
                    self.send_header(name, value)
                if app.sign_with:
                    self.send_header("X-Inngest-Signature", signing.sign(app.body, app.sign_with))
                self.end_headers()
                self.wfile.write(app.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/inngest"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def calls(self) -> int:
        return len(self.requests)


@contextmanager
def fake_app() -> Iterator[FakeApp]:
    app = FakeApp()
    try:
        yield app
    finally:
        app.stopping.set()
        app.server.shutdown()
        app.server.server_close()
