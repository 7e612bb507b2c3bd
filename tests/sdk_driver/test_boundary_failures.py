"""Issue 10 item 7: failure at the HTTP boundary gets a clear error on the run, never a hang or a lost run.

The misbehaving apps are real HTTP servers (a closed port, a server that answers too late or with what no SDK
sends); the unknown fnId and the unsigned answer come from the real inngest-py app of the crash test."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runs import client
from tests.sdk_driver.fake_app import FakeApp
from tests.sdk_driver.registration import free_port, register_rows, run_edge, run_once

pytestmark = pytest.mark.django_db(transaction=True)


def test_unreachable_app_is_retried_then_fails_with_the_cause() -> None:
    url = f"http://127.0.0.1:{free_port()}/api/inngest"  # nothing listens there
    done = run_edge(url, retries=1)
    assert done.status == "failed"
    assert done.error["name"] == "AppUnreachable" and url in done.error["message"]
    assert done.attempts == 2  # the first attempt and one retry


def test_app_that_answers_too_late_fails_as_a_timeout(fake_app: FakeApp, settings: Any) -> None:
    settings.RUNS_INNGEST_CALL_TIMEOUT_SECONDS = 0.3
    fake_app.delay = 1.0
    done = run_edge(fake_app.url, retries=0)
    assert done.status == "failed"
    assert done.error["name"] == "AppTimeout" and "RUNS_INNGEST_CALL_TIMEOUT_SECONDS" in done.error["message"]


def test_app_timeout_is_retried_with_backoff_then_fails_with_the_cause(fake_app: FakeApp, settings: Any) -> None:
    settings.RUNS_INNGEST_CALL_TIMEOUT_SECONDS = 0.3
    settings.RUNS_RETRY_BASE_SECONDS = 0.5  # the first backoff: 0.45 to 0.55 s
    fake_app.delay = 1.0
    done = run_edge(fake_app.url, retries=1)
    assert done.status == "failed"
    assert done.error["name"] == "AppTimeout" and fake_app.url in done.error["message"], done.error
    assert done.attempts == 2 and fake_app.calls == 2
    first, second = fake_app.arrived
    assert second - first >= 0.3 + 0.45  # the timeout, then the backoff


@pytest.mark.parametrize("mode", ["dev", "signed"])
def test_a_redirect_is_not_followed_and_fails_clearly(fake_app: FakeApp, mode: str,
                                                      request: pytest.FixtureRequest) -> None:
    if mode == "signed":
        request.getfixturevalue("signed")
    fake_app.status, fake_app.body = 302, b""
    fake_app.headers = {"Location": "http://127.0.0.1:9/elsewhere"}
    done = run_edge(fake_app.url, retries=1)
    assert done.status == "failed"
    assert done.error["name"] == "AppRedirected", done.error
    assert "HTTP 302, a redirect to 'http://127.0.0.1:9/elsewhere'; redirects are not followed" in done.error["message"]
    assert done.attempts == 2 and fake_app.calls == 2


def test_a_404_from_the_app_fails_naming_the_url(crash_app: str) -> None:
    wrong = crash_app.replace("/api/inngest", "/api/nowhere")  # Django answers its own 404 page
    done = run_once("crash-py", wrong, {"crash-child": "edge/child"}, "edge/child", {"path": "/dev/null"})
    assert done.status == "failed"
    assert done.error["message"].startswith("the app answered HTTP 404: "), done.error
    assert f"(is {wrong}?fnId=crash-py-crash-child&stepId=step the app's serve URL?" in done.error["message"]


@pytest.mark.parametrize("body, says", [
    (b"<html>not json</html>", "is not JSON"),
    (json.dumps([{"op": "AIGateway", "id": "abc"}]).encode(), "opcode 'AIGateway' is not supported"),
    (json.dumps([{"op": "StepRun"}]).encode(), "carries no step id"),
])
def test_an_answer_no_sdk_sends_fails_the_run_without_retrying(fake_app: FakeApp, body: bytes, says: str) -> None:
    fake_app.status, fake_app.body = 206, body
    done = run_edge(fake_app.url, retries=3)
    assert done.status == "failed"
    assert done.error["name"] == "ProtocolError" and says in done.error["message"], done.error
    assert fake_app.calls == 1


def test_a_return_value_over_the_output_limit_fails_the_run(fake_app: FakeApp) -> None:
    fake_app.body = json.dumps({"big": "x" * (4 * 1024 * 1024 + 512 * 1024)}).encode()  # an answer's limit: 5 MiB
    done = run_edge(fake_app.url, retries=0)
    assert done.status == "failed"
    assert done.error["name"] == "LimitExceeded" and "4 MiB" in done.error["message"]


def test_unknown_function_id_in_the_app_fails_with_the_apps_answer(crash_app: str) -> None:
    done = run_once("crash-py", crash_app, {"vanished": "edge/vanished"}, "edge/vanished")
    assert done.status == "failed"
    assert "crash-py-vanished" in done.error["message"] and "not found" in done.error["message"], done.error


def test_an_unsigned_answer_in_signed_mode_is_refused(crash_app: str, signed: str) -> None:
    done = run_once("crash-py", crash_app, {"crash-child": "edge/child"}, "edge/child", {"path": "/dev/null"})
    assert done.status == "failed"
    assert done.error["name"] == "SignatureError", done.error


def test_a_trigger_expression_decides_which_events_start_runs() -> None:
    from runs.models import Function, Run

    register_rows("edge-app", "http://127.0.0.1:9/api/inngest", {"picky": "edge/picky"}, runtime="inngest-js")
    Function.objects.filter(function_id="picky").update(
        config={"retries": 0, "runtime": "inngest-js", "url": "http://127.0.0.1:9/api/inngest?fnId=edge-app-picky",
                "cancel_on": [], "trigger_expression": "event.data.tier == 'gold'"})
    client.send("edge/picky", {"tier": "silver"})
    client.send("edge/picky", {"tier": "gold"})
    client.send("edge/picky", {})  # a missing field does not match (and is no error)
    assert [run.event_data for run in Run.objects.filter(function_id="picky")] == [{"tier": "gold"}]
