"""The inngest-py crash app (crash_app.py) served in its own process, for the crash-safety and chaos tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.sdk_driver.registration import free_port

APP = Path(__file__).with_name("crash_app.py")


@pytest.fixture
def crash_app(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "INNGEST_DEV": "http://127.0.0.1:9", "PYTHONUNBUFFERED": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = (tmp_path / "app.log").open("wb")
    app = subprocess.Popen([sys.executable, str(APP)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api/inngest"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert app.poll() is None and time.monotonic() < deadline, (tmp_path / "app.log").read_text()
        time.sleep(0.05)
    try:
        yield url
    finally:
        app.terminate()
        app.wait(15)
        log.close()
