"""The inngest-py app of W1-SDK/W2-SDK (tests/benchmarks/sdk_app.py) for `manage.py bench`: started under
gunicorn (keep-alive, threads) on a free port in signed mode, synced in-band, stopped after."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 30.0


def new_signing_key() -> str:
    return "signkey-bench-" + secrets.token_hex(32)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def sdk_app(signing_key: str) -> Iterator[str]:
    """Serve the bench app; yields its serve URL."""
    port = _free_port()
    env = {**os.environ, "INNGEST_SIGNING_KEY": signing_key, "INNGEST_DEV": "0",
           "INNGEST_BASE_URL": "http://127.0.0.1:9"}  # the app sends nothing to the server in these workloads
    env.pop("DJANGO_SETTINGS_MODULE", None)
    app = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--worker-class",
         "gthread", "--threads", "8", "--keep-alive", "60", "--log-level", "warning",
         "tests.benchmarks.sdk_app:application"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/inngest"
    try:
        _wait_serving(app, url)
        yield url
    finally:
        app.terminate()
        try:
            app.wait(15)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()


def _wait_serving(app: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise RuntimeError(f"the bench SDK app exited with {app.returncode}")
        try:
            httpx.get(url, timeout=1)  # unsigned: 401 in cloud mode, which still means it is serving
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"the bench SDK app did not serve {url} within {STARTUP_SECONDS} s")


def sync(url: str) -> None:
    """In-band sync of the app (this process has RUNS_INNGEST_SIGNING_KEY in its environment)."""
    from runs.inngest_sync import sync_app

    result = sync_app(url)
    if not result.ok:
        raise RuntimeError(f"syncing the bench SDK app failed: {result.error}")
