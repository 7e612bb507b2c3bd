"""runs.inngest.protocol reads what SDK apps answer: their error objects (bounded to the error limits, whatever
the app sends), the ops of a 206, Retry-After in both SDKs' forms."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from runs.inngest.protocol import ProtocolError, app_error, error_from_body, parse_ops, retry_after
from runs.limits import MAX_ERROR_MESSAGE_CHARS, MAX_ERROR_STACK_CHARS, MAX_NAME_CHARS, shortened


def test_both_sdks_error_bodies_are_read() -> None:
    py = {"code": "non_retriable_error", "message": "nope", "name": "NonRetriableError", "stack": "Traceback..."}
    js = {"name": "NonRetriableError", "message": "nope", "stack": "NonRetriableError: nope", "__serialized": True}
    for body in (py, js):
        error = error_from_body(json.dumps(body).encode(), 500)
        assert (error["name"], error["message"]) == ("NonRetriableError", "nope")
        assert error["stack"] == body["stack"]


def test_an_answer_that_is_no_error_object_is_quoted_in_part() -> None:
    error = error_from_body(b"<html>" + b"x" * 5000, 502)
    assert error["name"] == "Error" and error["stack"] is None
    assert error["message"].startswith("the app answered HTTP 502: <html>xxx")
    assert len(error["message"]) < 600


def test_an_apps_error_is_cut_to_the_error_limits() -> None:
    error = app_error({"name": "N" * 1000, "message": "m" * 50_000, "stack": "s" * 500_000})
    assert (len(error["name"]), len(error["message"]), len(error["stack"])) == (
        MAX_NAME_CHARS, MAX_ERROR_MESSAGE_CHARS, MAX_ERROR_STACK_CHARS)
    assert error["message"].endswith(f"... [50000 characters, cut to {MAX_ERROR_MESSAGE_CHARS}]")


def test_an_apps_error_holds_only_text_every_column_takes() -> None:
    error = app_error({"name": 42, "message": "a\x00b\ud800", "stack": ["not", "text"]})
    assert error == {"name": "42", "message": "a\\x00b\\ud800", "stack": None}
    assert app_error(None) == {"name": "Error", "message": "", "stack": None}


def test_shortened_keeps_short_text_and_cuts_long_text_to_the_limit() -> None:
    assert shortened("short", 10) == "short"
    cut = shortened("x" * 200, 60)
    assert len(cut) == 60 and cut.endswith("... [200 characters, cut to 60]")


def test_ops_are_checked() -> None:
    [op] = parse_ops(json.dumps([{"op": "StepRun", "id": "abc", "displayName": "first", "data": "A"}]).encode())
    assert (op.op, op.id, op.display_name, op.data) == ("StepRun", "abc", "first", "A")
    with pytest.raises(ProtocolError, match="not supported"):
        parse_ops(b'[{"op": "AIGateway", "id": "abc"}]')


def test_retry_after_in_both_sdks_forms() -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert retry_after("5", now) == now + timedelta(seconds=5)  # js: whole seconds
    assert retry_after("2026-12-02T00:54:23.820Z", now) == datetime(2026, 12, 2, 0, 54, 23, 820000, tzinfo=UTC)
    assert retry_after("", now) is None and retry_after("soon", now) is None
