"""Never a hang at the HTTP boundary: a call to an SDK app has one deadline (RUNS_INNGEST_CALL_TIMEOUT_SECONDS
for the whole call, however slowly the app sends) and an answer has a size limit (the 4 MiB output limit and
1 MiB for the protocol). Before, the answer was read whole with a per-read socket timeout, so an app trickling
bytes held the worker for ever while its heartbeat kept the run's lease.

Values inside an answer keep the native limits: a step's output over 4 MiB fails the step, invoke data over it
fails the run, both saying so; an error the app reports is cut to the error limits (runs/limits.py)."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from runs.limits import MAX_ERROR_MESSAGE_CHARS, MAX_ERROR_STACK_CHARS, MAX_NAME_CHARS
from runs.models import Run, Step
from tests.sdk_driver.fake_app import FakeApp
from tests.sdk_driver.registration import run_edge, run_once

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_app_trickling_its_answer_fails_the_attempt_at_the_calls_deadline(fake_app: FakeApp,
                                                                             settings: Any) -> None:
    settings.RUNS_INNGEST_CALL_TIMEOUT_SECONDS = 0.5

    def trickle(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        while not fake_app.stopping.wait(0.05):  # a byte every 50 ms: every read gets one in time
            try:
                handler.wfile.write(b" ")
                handler.wfile.flush()
            except OSError:
                return

    fake_app.respond = trickle
    started = time.monotonic()
    done = run_edge(fake_app.url, retries=1)
    assert time.monotonic() - started < 5  # two attempts of 0.5 s (and a moment to claim and commit each)
    assert done.status == "failed"
    assert done.error["name"] == "AppTimeout", done.error
    assert "within 0.5 s (RUNS_INNGEST_CALL_TIMEOUT_SECONDS, the deadline of a whole call)" in done.error["message"]
    assert done.attempts == 2 and fake_app.calls == 2


def test_a_huge_content_length_is_refused_without_reading(fake_app: FakeApp) -> None:
    def announce(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(10**12))
        handler.end_headers()
        fake_app.stopping.wait(30)  # sends nothing more: reading would wait for the deadline (300 s)

    fake_app.respond = announce
    started = time.monotonic()
    done = run_edge(fake_app.url, retries=1)
    assert time.monotonic() - started < 10
    assert done.status == "failed"
    assert done.error["name"] == "AnswerTooLarge", done.error
    assert "is 1000000000000 bytes (its Content-Length); the limit is 5242880 bytes (the 4 MiB output limit" in (
        done.error["message"])
    assert done.attempts == 2  # retried: a body too big to read is one whose signature cannot be checked


def test_a_huge_body_is_read_no_further_than_the_limit(fake_app: FakeApp) -> None:
    sent = []

    def flood(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)  # no Content-Length: the body runs until the connection closes
        handler.end_headers()
        block = b" " * 65536
        try:
            while not fake_app.stopping.is_set() and len(sent) < 1600:  # up to 100 MiB
                handler.wfile.write(block)
                sent.append(len(block))
        except OSError:
            return

    fake_app.respond = flood
    done = run_edge(fake_app.url, retries=0)
    assert done.status == "failed"
    assert done.error["name"] == "AnswerTooLarge", done.error
    assert "is more than 5242880 bytes; the limit is 5242880 bytes" in done.error["message"]
    assert sum(sent) < 50 * 2**20  # the worker stopped reading long before the app stopped sending


def test_a_step_output_over_the_limit_fails_the_step_saying_so(crash_app: str) -> None:
    done = run_once("crash-py", crash_app, {"big-step": "edge/big-step"}, "edge/big-step", timeout=60)
    assert done.status == "failed"
    [step] = Step.objects.filter(run_id=done.id)
    assert step.status == "failed" and step.error["name"] == "LimitExceeded", step.error
    assert "step 'big' output is" in step.error["message"] and "the limit is 4194304 (4 MiB)" in step.error["message"]
    assert done.error["message"] == step.error["message"] and done.failed_step_id == step.step_id  # re-raised


def test_invoke_data_over_the_limit_fails_the_run_saying_so(crash_app: str) -> None:
    done = run_once("crash-py", crash_app, {"big-invoke": "edge/big-invoke", "crash-child": "crash/child"}, "edge/big-invoke",
                    timeout=60)
    assert done.status == "failed"
    assert done.error["name"] == "LimitExceeded", done.error
    assert done.error["message"].startswith("step 'child': invoke 'child' data is ")
    assert "the limit is 4194304 (4 MiB)" in done.error["message"]
    assert not Run.objects.filter(parent_run_id=done.id).exists()  # no child was started


HUGE_ERROR = {"name": "E" * 300, "message": "m" * 100_000, "stack": "s" * 1_000_000}


@pytest.mark.parametrize("where", ["function", "step"])
def test_an_apps_error_is_stored_within_the_error_limits(fake_app: FakeApp, where: str) -> None:
    if where == "function":
        fake_app.status, fake_app.body = 500, json.dumps(HUGE_ERROR).encode()
    else:
        fake_app.status = 206
        fake_app.body = json.dumps([{"op": "StepFailed", "id": "a1", "displayName": "s", "error": HUGE_ERROR}]).encode()
        fake_app.respond = _then_fail_like_the_step(fake_app)
    done = run_edge(fake_app.url, retries=0)
    assert done.status == "failed"
    errors = [done.error] + [step.error for step in Step.objects.filter(run_id=done.id)]
    for error in errors:
        assert len(error["name"]) == MAX_NAME_CHARS and error["name"].startswith("EEE"), error["name"]
        assert len(error["message"]) == MAX_ERROR_MESSAGE_CHARS
        assert error["message"].endswith("... [100000 characters, cut to 10000]")
        assert len(error["stack"]) == MAX_ERROR_STACK_CHARS
    assert len(errors) == (1 if where == "function" else 2)


def _then_fail_like_the_step(fake_app: FakeApp) -> Any:
    """The step's StepFailed first; then, as an SDK re-raises the failed step, the same error as the function's."""
    def respond(handler: BaseHTTPRequestHandler) -> None:
        first = fake_app.calls == 1
        body = fake_app.body if first else json.dumps(HUGE_ERROR).encode()
        handler.send_response(206 if first else 500)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("X-Inngest-No-Retry", "true")
        handler.end_headers()
        handler.wfile.write(body)
    return respond
