"""Bounded intake (hardening item 5 and 9): events per request, a rate per event key, one statement to dedupe
ids whatever the batch size, bodies refused before they are read (ASGI), and a bound on nesting."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from dashboard.asgi import application
from dashboard.demo_functions import MAX_ALBUM, album_size
from runs import client
from runs.exceptions import IntakeLimitExceeded, InvalidEvent, LimitExceeded, NonRetriableError
from runs.models import Event, Run
from runs.sdk import App, Context
from runs.sdk.values import MAX_JSON_DEPTH, json_roundtrip, nesting_depth
from runs.store.functions import sync_functions
from runs.testing import wait_for_run

app = App("it-intake-limits")
KEY = "intake-limits-key"
NAME = "intake-limits/go"


@app.function(id="counted", trigger=NAME, retries=0)
async def counted(ctx: Context) -> None:
    return None


@app.function(id="deep-output", trigger="intake-limits/deep-output", retries=2)
async def deep_output(ctx: Context) -> Any:
    depth = ctx.event.data["depth"]

    def nested() -> Any:
        value: Any = "leaf"
        for _ in range(depth):
            value = [value]
        return value

    return await ctx.step.run("nest", nested)


@pytest.fixture
def intake(settings: Any, db: None) -> Any:
    settings.RUNS_EVENT_KEY = KEY
    sync_functions(app.functions.values())
    return settings


def post(body: Any, *, key: str = KEY, raw: bytes | None = None) -> Any:
    return Client().post("/api/events", data=raw if raw is not None else json.dumps(body),
                         content_type="application/json", headers={"Authorization": f"Bearer {key}"})


def nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def counts() -> tuple[int, int]:
    return Event.objects.count(), Run.objects.count()


# --- events per request ---------------------------------------------------------------------------------


def test_more_events_than_the_default_cap_is_413_naming_the_limit(intake: Any) -> None:
    assert intake.RUNS_INTAKE_MAX_EVENTS == 5000
    response = post([{"name": NAME}] * 5001)
    assert response.status_code == 413
    assert "5000" in response.json()["error"] and "RUNS_INTAKE_MAX_EVENTS" in response.json()["error"]
    assert counts() == (0, 0)


def test_the_cap_is_a_setting_and_a_request_at_the_cap_is_accepted(intake: Any) -> None:
    intake.RUNS_INTAKE_MAX_EVENTS = 3
    assert post([{"name": NAME}] * 4).status_code == 413
    assert counts() == (0, 0)
    assert post([{"name": NAME}] * 3).status_code == 200
    assert counts() == (3, 3)
    with pytest.raises(IntakeLimitExceeded, match="limit is 3"):  # the Python client too
        client.send_many([{"name": NAME}] * 4)


def test_many_distinct_ids_are_deduped_without_a_lock_per_id(intake: Any) -> None:
    # 20,000 advisory locks in one transaction ran PostgreSQL out of lock slots ("out of shared memory").
    intake.RUNS_INTAKE_MAX_EVENTS = 20_000
    ids = client.send_many([{"name": "intake-limits/nobody", "id": f"bulk-{n}"} for n in range(20_000)])
    assert len(ids) == 20_000 and Event.objects.count() == 20_000
    # Sent again, with a few new ones mixed in: only the new ones are stored, each once.
    again = client.send_many([{"name": NAME, "id": f"bulk-{n}"} for n in range(19_990, 20_010)])
    assert again == [f"bulk-{n}" for n in range(19_990, 20_010)]
    assert Event.objects.count() == 20_010
    # The ten repeated ids were not processed again (else they would start runs now); the ten new ones were.
    assert sorted(Run.objects.values_list("event_id", flat=True)) == sorted(f"bulk-{n}" for n in range(20_000, 20_010))
    # and an id repeated inside one batch is stored and processed once
    client.send_many([{"name": NAME, "id": "twice"}, {"name": NAME, "id": "twice"}])
    assert Run.objects.filter(event_id="twice").count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks are PostgreSQL's")
def test_intake_takes_no_advisory_lock_per_event(intake: Any) -> None:
    from django.db import transaction

    from runs.store.intake import dispatch_events_txn, normalise_events

    batch = normalise_events([{"name": "intake-limits/nobody", "id": f"lock-{n}"} for n in range(200)])
    with transaction.atomic():
        dispatch_events_txn(batch)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
            [(held,)] = cursor.fetchall()
    assert held == 0


# --- rate per event key ---------------------------------------------------------------------------------


def test_a_key_over_its_rate_gets_429_with_retry_after_and_nothing_is_stored(intake: Any) -> None:
    intake.RUNS_INTAKE_RATE = 0.5  # events per second
    intake.RUNS_INTAKE_BURST = 3
    assert post([{"name": NAME}] * 2).status_code == 200
    assert post({"name": NAME}).status_code == 200
    refused = post([{"name": NAME}] * 2)
    assert refused.status_code == 429, refused.content
    assert int(refused["Retry-After"]) >= 1  # whole seconds, as HTTP has it
    assert "retry in" in refused.json()["error"]
    assert counts() == (3, 3)
    # Another key has its own bucket.
    intake.RUNS_EVENT_KEY = KEY + "-other"
    assert post({"name": NAME}, key=KEY + "-other").status_code == 200


def test_the_rate_limit_can_be_turned_off(intake: Any) -> None:
    intake.RUNS_INTAKE_RATE = 0
    intake.RUNS_INTAKE_BURST = 1
    for _ in range(3):
        assert post([{"name": NAME}] * 2).status_code == 200


# --- nesting ----------------------------------------------------------------------------------------------


def test_nesting_depth_is_measured_without_recursion() -> None:
    assert [nesting_depth(v) for v in ("x", {}, [], [{}], {"a": [1, {"b": None}]})] == [0, 1, 1, 2, 3]
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert nesting_depth(deep) == 100_001
    assert nesting_depth(deep, stop_above=10) == 11


def test_event_data_nested_beyond_the_limit_is_refused_and_the_events_api_still_answers(intake: Any) -> None:
    refused = post({"name": NAME, "data": nested(500)})
    assert refused.status_code == 400 and str(MAX_JSON_DEPTH) in refused.json()["error"]
    assert post({"name": NAME, "user": nested(MAX_JSON_DEPTH + 1)}).status_code == 400
    assert counts() == (0, 0)
    with pytest.raises(InvalidEvent, match="deeper than"):
        client.send(NAME, nested(MAX_JSON_DEPTH + 1))
    assert post({"name": NAME, "data": nested(MAX_JSON_DEPTH)}).status_code == 200  # at the limit: fine
    http = Client()
    http.force_login(get_user_model().objects.create_user("reader"))
    listing = http.get("/api/events")
    assert listing.status_code == 200 and len(listing.json()["events"]) == 1
    assert http.get("/events/").status_code == 200


def test_a_step_output_nested_beyond_the_limit_fails_the_run_at_once(worker: Any) -> None:
    sync_functions(app.functions.values())
    [run] = client.runs_for_event(client.send("intake-limits/deep-output", {"depth": 500}))
    done = wait_for_run(run.id)
    assert done.status == "failed" and done.attempts == 1  # non-retriable
    assert done.error["name"] == "LimitExceeded" and "deeper than" in done.error["message"]
    with pytest.raises(LimitExceeded):
        json_roundtrip(nested(MAX_JSON_DEPTH + 1), "value")
    assert json_roundtrip(nested(MAX_JSON_DEPTH), "value") == nested(MAX_JSON_DEPTH)


# --- the demo's fan-out -----------------------------------------------------------------------------------


def test_the_demo_album_bounds_its_fan_out() -> None:
    # {"name": "demo/album", "data": {"n": 999}} (42 bytes) made 1,000 runs: one child per photo.
    assert album_size({"n": 30}) == 30 and album_size({"n": MAX_ALBUM}) == MAX_ALBUM
    for bad in (999, 0, -1, "5", True, None, 2.5):
        with pytest.raises(NonRetriableError):
            album_size({"n": bad})


# --- request bodies, at the ASGI edge ---------------------------------------------------------------------


def asgi_post(path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[int, dict, int]:
    """POST through the real ASGI application; (status, JSON body, how many body chunks it read)."""
    sent: list[dict[str, Any]] = []
    read = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read >= len(chunks):
            await asyncio.sleep(3600)  # a client that never sends the rest: reading it would hang the test
        read += 1
        return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), *headers], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(asyncio.wait_for(application(scope, receive, send), timeout=20))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), read


def test_a_body_declared_over_the_limit_is_413_before_any_of_it_is_read(settings: Any) -> None:
    assert settings.RUNS_MAX_REQUEST_BODY_BYTES == settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 5 * 512 * 1024
    for path in ("/api/events", "/accounts/login/", "/no/such/url"):
        status, body, read = asgi_post(path, [b"{}"], [(b"content-length", str(2**30).encode())])
        assert (status, read) == (413, 0), path
        assert str(settings.RUNS_MAX_REQUEST_BODY_BYTES) in body["error"]


def test_a_streamed_body_is_cut_off_once_it_passes_the_limit(settings: Any) -> None:
    settings.RUNS_MAX_REQUEST_BODY_BYTES = 1000
    chunks = [b"x" * 400] * 10  # no Content-Length (chunked): 4,000 bytes announced by nobody
    status, body, read = asgi_post("/api/events", chunks, [(b"transfer-encoding", b"chunked")])
    assert status == 413 and "1000" in body["error"]
    assert read == 3  # 400, 800, 1,200 > 1,000: stopped there, the other seven chunks never read


def test_a_body_under_the_limit_reaches_the_application(settings: Any) -> None:
    settings.RUNS_EVENT_KEY = KEY
    status, body, read = asgi_post("/api/events", [b'{"name": "x"}'],
                                   [(b"content-length", b"13"), (b"authorization", b"Bearer wrong")])
    assert status == 401 and "event key" in body["error"] and read == 1
