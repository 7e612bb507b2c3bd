"""runs.engine.http_calls bounds a call to an SDK app in time (one deadline for the whole call, however the app
trickles its answer) and in size (a Content-Length over the limit is refused unread, a body is read no further
than the limit), and still keeps connections alive between calls.

The apps are raw sockets on free ports, so each can misbehave byte by byte."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from runs.engine import http_calls

Handler = Callable[[socket.socket, threading.Event], None]


@pytest.fixture(autouse=True)
def _fresh_connections() -> Iterator[None]:
    http_calls.close_thread_connections()
    yield
    http_calls.close_thread_connections()


@contextmanager
def app(handle: Handler) -> Iterator[tuple[str, list[int]]]:
    """A server calling `handle(connection, stopping)` for each request on each accepted connection; yields its
    URL and a list that counts connections."""
    listener = socket.create_server(("127.0.0.1", 0))
    stopping = threading.Event()
    connections: list[int] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            reader = conn.makefile("rb")
            while not stopping.is_set():
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                reader.read(length)
                handle(conn, stopping)

    def accept() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(1)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/api/inngest", connections
    finally:
        stopping.set()
        listener.close()


def answer(body: bytes, *, status: str = "200 OK", extra: bytes = b"") -> Handler:
    def handle(conn: socket.socket, stopping: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)
    return handle


def post(url: str, *, timeout: float = 5.0, max_bytes: int = 1000) -> http_calls.Response:
    return http_calls.post(url, b"{}", {"Content-Type": "application/json"}, timeout, max_bytes=max_bytes)


def test_answers_are_read_and_the_connection_is_kept_alive() -> None:
    with app(answer(b'"ok"', extra=b"X-Inngest-Req-Version: 2\r\n")) as (url, connections):
        first, second = post(url), post(url)
    assert (first.status, first.body, first.header("x-inngest-req-version")) == (200, b'"ok"', "2")
    assert second.body == b'"ok"' and len(connections) == 1


def test_an_answer_that_closes_the_connection_is_read_whole() -> None:
    def handle(conn: socket.socket, stopping: threading.Event) -> None:
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + b'"' + b"x" * 900 + b'"')
        conn.shutdown(socket.SHUT_WR)

    with app(handle) as (url, _):
        assert post(url).body == b'"' + b"x" * 900 + b'"'


@pytest.mark.parametrize("where", ["headers", "body"])
def test_an_app_trickling_its_answer_times_out_at_the_calls_deadline(where: str) -> None:
    def trickle(conn: socket.socket, stopping: threading.Event) -> None:
        head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"p" * 200 + b"\r\nContent-Length: 500\r\n\r\n"
        if where == "body":
            conn.sendall(head)
        for byte in (head if where == "headers" else b"x" * 500):
            if stopping.wait(0.05):  # a byte every 50 ms: each read gets one well within any socket timeout
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return

    with app(trickle) as (url, _):
        started = time.monotonic()
        with pytest.raises(http_calls.CallFailed) as failed:
            post(url, timeout=0.6)
        took = time.monotonic() - started
    assert failed.value.timed_out
    assert 0.55 <= took < 1.0, took  # the whole call's deadline, not 0.6 s per read


def test_a_content_length_over_the_limit_is_refused_before_reading() -> None:
    def announce(conn: socket.socket, stopping: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\nxxxx")
        stopping.wait(10)  # and never more: a read would wait for the deadline

    with app(announce) as (url, _):
        started = time.monotonic()
        with pytest.raises(http_calls.AnswerTooLarge) as refused:
            post(url, timeout=5, max_bytes=1000)
        assert time.monotonic() - started < 2
    assert (refused.value.size, refused.value.limit) == (10**12, 1000)
    assert str(refused.value) == "the answer is 1000000000000 bytes (its Content-Length); the limit is 1000 bytes"


@pytest.mark.parametrize("framing", ["chunked", "until-close"])
def test_a_body_going_past_the_limit_is_refused_after_the_limit(framing: str) -> None:
    sent: list[int] = []

    def flood(conn: socket.socket, stopping: threading.Event) -> None:
        chunked = framing == "chunked"
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + (b"Transfer-Encoding: chunked\r\n" if chunked else
                                                b"Connection: close\r\n") + b"\r\n")
        block = b"x" * 1000
        try:
            while not stopping.is_set() and sum(sent) < 50_000_000:
                conn.sendall(b"3e8\r\n" + block + b"\r\n" if chunked else block)
                sent.append(len(block))
        except OSError:
            return

    with app(flood) as (url, _), pytest.raises(http_calls.AnswerTooLarge) as refused:
        post(url, timeout=5, max_bytes=10_000)
    assert refused.value.size is None
    assert str(refused.value) == "the answer is more than 10000 bytes; the limit is 10000 bytes"
    assert sum(sent) < 10_000_000  # the reader stopped; the app did not get to send its 50 MB


def test_an_answer_cut_short_of_its_content_length_fails() -> None:
    def cut(conn: socket.socket, stopping: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        conn.shutdown(socket.SHUT_WR)

    with app(cut) as (url, _), pytest.raises(http_calls.CallFailed) as failed:
        post(url)
    assert not failed.value.timed_out and "IncompleteRead" in str(failed.value)
