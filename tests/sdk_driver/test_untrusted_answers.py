"""In signed mode every answer the driver acts on must be signed, errors included.

The SDKs sign every answer to a request whose signature they checked, a function's error too (inngest-py's
500 with X-Inngest-No-Retry, inngest-js's 400); only their own 401 for a bad request signature is not. An error
answer that is not signed (or badly signed) may come from anyone in the path: it is a plain failed attempt,
retried on Tributary's backoff, its X-Inngest-No-Retry and Retry-After ignored and its body shown only in part."""

from __future__ import annotations

import json

import pytest

from runs.models import Step
from tests.sdk_driver.fake_app import FakeApp
from tests.sdk_driver.registration import run_edge, run_once

pytestmark = pytest.mark.django_db(transaction=True)

OTHER_KEY = "signkey-test-" + "cd" * 32
FORGED = json.dumps({"name": "NonRetriableError", "message": "forged " + "A" * 2000, "stack": "S" * 5000}).encode()


def test_inngest_pys_signed_non_retriable_error_fails_the_run_at_once(signed_crash_app: str) -> None:
    done = run_once("crash-py", signed_crash_app, {"refuse": "edge/refuse"}, "edge/refuse", retries=3)
    assert done.status == "failed"
    assert (done.error["name"], done.error["message"]) == ("NonRetriableError", "nope"), done.error
    assert done.attempts == 1  # its X-Inngest-No-Retry: true was signed, so it counts


def test_a_signed_error_answer_is_acted_on(fake_app: FakeApp, signed: str) -> None:
    fake_app.status, fake_app.body, fake_app.sign_with = 400, FORGED, signed
    fake_app.headers = {"X-Inngest-No-Retry": "true"}
    done = run_edge(fake_app.url, retries=2)
    assert done.status == "failed" and done.error["name"] == "NonRetriableError", done.error
    assert done.attempts == 1 and fake_app.calls == 1


@pytest.mark.parametrize("sign_with", [None, OTHER_KEY], ids=["unsigned", "badly-signed"])
@pytest.mark.parametrize("headers", [{"X-Inngest-No-Retry": "true"}, {"Retry-After": "3600"}],
                         ids=["no-retry", "retry-after"])
def test_an_error_answer_not_signed_is_a_plain_failed_attempt(
        fake_app: FakeApp, signed: str, sign_with: str | None, headers: dict[str, str]) -> None:
    fake_app.status, fake_app.body, fake_app.sign_with, fake_app.headers = 500, FORGED, sign_with, headers
    done = run_edge(fake_app.url, retries=1)
    assert done.status == "failed"
    assert done.attempts == 2 and fake_app.calls == 2  # retried at once (backoff), as if the header were not there
    error = done.error
    assert error["name"] == "SignatureError", error
    assert "HTTP 500 answer" in error["message"] and "is not signed" in error["message"]
    assert "forged AAA" in error["message"] and "A" * 300 not in error["message"]  # an excerpt only
    assert error["stack"] is None


@pytest.mark.parametrize("status", [200, 206])
def test_a_wrongly_signed_answer_is_refused(fake_app: FakeApp, signed: str, status: int) -> None:
    fake_app.status, fake_app.sign_with = status, OTHER_KEY
    fake_app.body = b'"done"' if status == 200 else json.dumps([{"op": "StepRun", "id": "a", "data": 1}]).encode()
    done = run_edge(fake_app.url, retries=0)
    assert done.status == "failed"
    assert done.error["name"] == "SignatureError", done.error
    assert "does not verify with the configured signing key" in done.error["message"]
    assert not Step.objects.filter(run_id=done.id).exists()  # the refused StepRun was not recorded
