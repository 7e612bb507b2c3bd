"""`manage.py serve` and the Inngest modes: `--dev` switches dev mode on, a signing key in the environment is
signed mode, neither is off; the startup line says which, and the served endpoints behave accordingly."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.test_serve import server_env, serving

KEY = "signkey-test-" + "9a" * 32


def post(url: str, body: object) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        assert json.loads(exc.read())["status"] == exc.code  # a JSON reason, never an HTML page
        return exc.code


@pytest.mark.parametrize(("args", "env", "line", "no_key_status"), [
    (("--dev", "--no-worker"), {}, "Inngest SDK apps: dev mode (no signatures)", 200),
    (("--no-worker",), {"RUNS_INNGEST_SIGNING_KEY": KEY}, "Inngest SDK apps: signed mode", 401),
    (("--no-worker",), {}, "Inngest SDK apps: off", 403),
    (("--dev", "--no-worker"), {"RUNS_INNGEST_SIGNING_KEY": KEY}, "Inngest SDK apps: signed mode", 401),
])
def test_serve_says_which_inngest_mode_it_is_in_and_serves_it(
        tmp_path: Path, args: tuple[str, ...], env: dict[str, str], line: str, no_key_status: int) -> None:
    environment = {k: v for k, v in server_env(tmp_path).items() if not k.startswith("RUNS_INNGEST")}
    log = tmp_path / "serve.log"
    with serving({**environment, **env}, log, *args) as port:
        assert line in log.read_text()
        # What an SDK in dev mode without an event key sends: only dev mode takes it.
        assert post(f"http://127.0.0.1:{port}/e/NO_EVENT_KEY_SET", [{"name": "serve/inngest"}]) == no_key_status
    if "--dev" in args and not env:
        assert "runs.W002" in log.read_text()  # dev mode with a DATABASE_URL: warned at startup
