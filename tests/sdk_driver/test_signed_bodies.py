"""Signed Call Requests carry any stored value, and a body that cannot be built ends the attempt clearly.

The SDKs check a request's signature over the canonical JSON of the parsed body, in which every number is a
double (runs/inngest/signing.py): an integer beyond 2^53 in the event or in a step's output is signed as the
double nearest it and sent exactly. Before, canonicalising refused such an integer, the exception escaped the
pass, and the run was replayed at every lease expiry, forever."""

from __future__ import annotations

from pathlib import Path

import pytest

from runs import client
from runs.engine import http_driver
from runs.testing import wait_for_run, worker
from tests.sdk.harness import require_node, start_sdk_app
from tests.sdk_driver.fake_app import FakeApp
from tests.sdk_driver.registration import register_rows, run_edge, run_once

pytestmark = pytest.mark.django_db(transaction=True)

BIG = 9007199254740993  # 2^53 + 1


def test_big_integers_in_the_event_and_the_memo_reach_inngest_py_exactly(signed_crash_app: str) -> None:
    done = run_once("crash-py", signed_crash_app, {"big-numbers": "edge/big-numbers"}, "edge/big-numbers", {"n": BIG})
    assert done.status == "completed", done.error
    assert done.output == {"event": BIG, "step": 2 * BIG}  # the step's output came back in the memo, exact


def test_a_big_integer_in_the_event_reaches_inngest_js_as_its_double(tmp_path: Path, signed: str) -> None:
    require_node("js4")
    app = start_sdk_app("js4", mode="signed", origin="http://127.0.0.1:9", log_dir=tmp_path, signing_key=signed)
    try:
        register_rows(app.app_id, app.url, {"compute-square": "calculate/square"}, runtime="inngest-js", retries=0)
        with worker():
            # Only this app's run: native test functions loaded in this process may listen to the event too.
            [run] = [r for r in client.runs_for_event(client.send("calculate/square", {"number": BIG}))
                     if r.app_id == app.app_id]
            done = wait_for_run(run.id, timeout=30)
    finally:
        app.process.stop()
    assert done.status == "completed", (done.error, app.log()[-2000:])
    # JSON.parse read 2^53 + 1 as 2^53, as JavaScript reads any such number (PostgreSQL keeps the decimal digits
    # JavaScript wrote, so compare as doubles).
    assert float(done.output["result"]) == float(BIG) ** 2


def test_an_integer_no_double_holds_fails_the_run_at_once_saying_where(fake_app: FakeApp, signed: str) -> None:
    done = run_edge(fake_app.url, retries=3, data={"n": 10**400})
    assert done.status == "failed"
    assert done.error["name"] == "UnsignableValue", done.error
    assert done.error["message"].startswith(f"cannot sign the Call Request to {fake_app.url}")
    assert "event.data.n is an integer of 1329 bits" in done.error["message"]
    assert done.attempts == 1 and fake_app.calls == 0


@pytest.mark.parametrize("mode", ["dev", "signed"])
def test_any_error_building_a_call_request_ends_the_attempt_clearly(
        mode: str, fake_app: FakeApp, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    if mode == "signed":
        request.getfixturevalue("signed")

    def broken(**kwargs: object) -> dict[str, object]:
        raise RuntimeError("no body today")

    monkeypatch.setattr(http_driver, "call_body", broken)
    done = run_edge(fake_app.url, retries=1)
    assert done.status == "failed"
    assert done.error["name"] == "CallRequestError", done.error
    assert "RuntimeError: no body today" in done.error["message"]
    assert done.attempts == 2 and fake_app.calls == 0  # retried with backoff like any failed attempt
