"""Fixtures of the HTTP driver tests: the inngest-py app of crash_app.py in dev or cloud (signed) mode, a fake
app (fake_app.py), the worker's Inngest mode to go with them, and fast retries."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sdk_driver import fake_app as fake
from tests.sdk_driver.registration import free_port

APP = Path(__file__).with_name("crash_app.py")
SIGNING_KEY = "signkey-test-" + "ab" * 32


def _start(tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("INNGEST_")}, **env,
           "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log_path = tmp_path / f"app-{port}.log"
    log = log_path.open("wb")
    app = subprocess.Popen([sys.executable, str(APP)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api/inngest"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url, timeout=2).status_code in (200, 401):  # cloud mode: an unsigned GET is a 401
                break
        except httpx.HTTPError:
            pass
        assert app.poll() is None and time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.05)
    try:
        yield url
    finally:
        app.terminate()
        app.wait(15)
        log.close()


@pytest.fixture(autouse=True)
def _fast_retries(settings: Any) -> None:
    settings.RUNS_RETRY_BASE_SECONDS = 0.01


@pytest.fixture(autouse=True)
def _dev_mode(settings: Any) -> None:
    """The worker calls SDK apps in dev mode unless a test turns signed mode on (`signed`)."""
    settings.RUNS_INNGEST_DEV = True


@pytest.fixture
def signed(monkeypatch: pytest.MonkeyPatch, settings: Any) -> str:
    """The worker in signed mode; the key."""
    monkeypatch.setenv("RUNS_INNGEST_SIGNING_KEY", SIGNING_KEY)
    settings.RUNS_INNGEST_SIGNING_KEY = SIGNING_KEY
    return SIGNING_KEY


@pytest.fixture
def crash_app(tmp_path: Path) -> Iterator[str]:
    """The app in dev mode (it signs nothing, checks nothing); its serve URL."""
    yield from _start(tmp_path, {"INNGEST_DEV": "http://127.0.0.1:9"})


@pytest.fixture
def signed_crash_app(tmp_path: Path, signed: str) -> Iterator[str]:
    """The app in cloud mode with the worker's key: it refuses unsigned requests and signs its answers."""
    yield from _start(tmp_path, {"INNGEST_DEV": "0", "INNGEST_SIGNING_KEY": signed,
                                 "INNGEST_BASE_URL": "http://127.0.0.1:9"})


@pytest.fixture
def fake_app() -> Iterator[fake.FakeApp]:
    with fake.fake_app() as app:
        yield app
