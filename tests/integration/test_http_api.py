"""The HTTP edge: POST /api/events, GET /api/runs/<id>, and the plain run pages (issue 2, "HTTP").

Bad input gets a 4xx with a JSON reason and stores nothing; it is never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from runs.models import ApiToken, Event, Run
from runs.sdk import App, Context
from runs.store import tokens
from runs.store.functions import sync_functions
from runs.testing import wait_for_run

app = App("http-api-tests")
EVENT_KEY = "test-event-key-http-api"
ECHO = "http-api/echo"
XSS = "<script>alert('pwned')</script>"


@app.function(id="echo", trigger=ECHO, retries=0)
async def echo(ctx: Context) -> dict:
    return await ctx.step.run("copy-data", lambda: dict(ctx.event.data))


@pytest.fixture
def event_key(settings: Any) -> str:
    settings.RUNS_EVENT_KEY = EVENT_KEY
    return EVENT_KEY


@pytest.fixture
def synced(db: None) -> None:
    sync_functions(app.functions.values())


def post(client: Client, body: Any, *, key: str | None = EVENT_KEY, raw: bytes | None = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    data = raw if raw is not None else json.dumps(body)
    return client.post("/api/events", data=data, content_type="application/json", headers=headers)


def counts() -> tuple[int, int]:
    return Event.objects.count(), Run.objects.count()


# --- POST /api/events: accepted -------------------------------------------------------------------------


def test_one_event_starts_a_run_and_answers_its_id(client: Client, event_key: str, synced: None) -> None:
    response = post(client, {"name": ECHO, "data": {"n": 1}})
    assert response.status_code == 200, response.content
    [event_id] = response.json()["ids"]
    [run] = Run.objects.filter(event_id=event_id)
    assert (run.app_id, run.function_id, run.event_data) == ("http-api-tests", "echo", {"n": 1})
    assert Event.objects.get(id=event_id).name == ECHO


def test_a_list_of_events_answers_ids_in_order(client: Client, event_key: str, synced: None) -> None:
    response = post(client, [{"name": ECHO, "data": {"n": 1}}, {"name": ECHO, "data": {"n": 2}, "id": "mine"}])
    assert response.status_code == 200, response.content
    ids = response.json()["ids"]
    assert len(ids) == 2 and ids[1] == "mine"
    assert [Run.objects.get(event_id=i).event_data for i in ids] == [{"n": 1}, {"n": 2}]


def test_a_repeated_event_id_is_processed_once(client: Client, event_key: str, synced: None) -> None:
    first = post(client, {"name": ECHO, "id": "evt-once", "data": {"n": 1}})
    again = post(client, {"name": ECHO, "id": "evt-once", "data": {"n": 2}})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == {"ids": ["evt-once"]}
    assert counts() == (1, 1)
    assert Run.objects.get().event_data == {"n": 1}


def test_an_event_nothing_triggers_is_stored_without_runs(client: Client, event_key: str, synced: None) -> None:
    response = post(client, {"name": "http-api/nobody-listens"})
    assert response.status_code == 200
    assert counts() == (1, 0)


# --- POST /api/events: rejected, nothing stored -----------------------------------------------------------

OVERSIZE = {"name": ECHO, "data": {"blob": "x" * (512 * 1024)}}

BAD_BODIES: dict[str, tuple[bytes, int, str]] = {
    # case: (raw body, expected status, a word the reason contains)
    "not json": (b"{not json", 400, "JSON"),
    "empty body": (b"", 400, "empty"),
    "not utf-8": (b'{"name": "\xff\xfe"}', 400, "JSON"),
    "NaN": (b'{"name": "http-api/echo", "data": {"x": NaN}}', 400, "JSON"),
    "too deep": (b"[" * 100_000 + b"]" * 100_000, 400, "deep"),
    "missing name": (json.dumps({"data": {}}).encode(), 400, "name"),
    "empty name": (json.dumps({"name": "  "}).encode(), 400, "name"),
    "name not a string": (json.dumps({"name": 7}).encode(), 400, "name"),
    "reserved name": (json.dumps({"name": "inngest/function.finished", "data": {}}).encode(), 400, "reserved"),
    "data not an object": (json.dumps({"name": ECHO, "data": [1, 2]}).encode(), 400, "data"),
    "user not an object": (json.dumps({"name": ECHO, "user": "bob"}).encode(), 400, "user"),
    "a scalar body": (b"42", 400, "object"),
    "an empty list": (b"[]", 400, "non-empty"),
    "one bad event in a list": (json.dumps([{"name": ECHO}, {"data": {}}]).encode(), 400, "event 1"),
    "name too long": (json.dumps({"name": "x" * 201}).encode(), 400, "name"),
    "ts out of range": (json.dumps({"name": ECHO, "ts": 2**70}).encode(), 400, "ts"),
    "NUL in data": (json.dumps({"name": ECHO, "data": {"k": "a\x00b"}}).encode(), 400, "NUL"),
    "lone surrogate": (b'{"name": "http-api/echo", "data": {"k": "\\ud800"}}', 400, "JSON"),
    "oversize body": (json.dumps(OVERSIZE).encode(), 413, "larger"),
    # Beyond Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), where reading request.body itself raises.
    "huge body": (b"[" + b'{"name": "http-api/echo"},' * 150_000 + b"{}]", 413, "larger"),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_input_is_a_4xx_with_a_json_reason_and_stores_nothing(
        case: str, client: Client, event_key: str, synced: None) -> None:
    raw, status, word = BAD_BODIES[case]
    response = post(client, None, raw=raw)
    assert response.status_code == status, (case, response.content[:300])
    assert response["Content-Type"] == "application/json"
    assert word.lower() in response.json()["error"].lower()
    assert counts() == (0, 0)


@pytest.mark.parametrize("key", [None, "", "wrong-key", EVENT_KEY + "x"])
def test_a_missing_or_wrong_event_key_is_401(key: str | None, client: Client, event_key: str, synced: None) -> None:
    response = post(client, {"name": ECHO}, key=key)
    assert response.status_code == 401
    assert "event key" in response.json()["error"]
    assert counts() == (0, 0)


def test_basic_auth_is_not_an_event_key(client: Client, event_key: str, synced: None) -> None:
    response = client.post("/api/events", data=json.dumps({"name": ECHO}), content_type="application/json",
                           headers={"Authorization": f"Basic {EVENT_KEY}"})
    assert response.status_code == 401
    assert counts() == (0, 0)


def test_put_on_events_is_405_json(client: Client, event_key: str, synced: None) -> None:
    response = client.put("/api/events", headers={"Authorization": f"Bearer {EVENT_KEY}"})
    assert response.status_code == 405
    assert "POST" in response["Allow"] and "error" in response.json()


def test_the_event_key_does_not_read_events(client: Client, event_key: str, synced: None) -> None:
    # GET /api/events lists events (the dashboard's API, issue 4): it needs a login or an API token.
    response = client.get("/api/events", headers={"Authorization": f"Bearer {EVENT_KEY}"})
    assert response.status_code == 401 and "error" in response.json()


# --- GET /api/runs/<id> ----------------------------------------------------------------------------------


@pytest.fixture
def alice(db: None) -> Any:
    return get_user_model().objects.create_user("alice", password="pw-alice")


@pytest.fixture
def queued_run_id(client: Client, event_key: str, synced: None) -> str:
    [event_id] = post(client, {"name": ECHO, "data": {"n": 3}}).json()["ids"]
    return Run.objects.get(event_id=event_id).id


def test_anonymous_run_read_is_401_json(client: Client, queued_run_id: str) -> None:
    response = client.get(f"/api/runs/{queued_run_id}")
    assert response.status_code == 401
    assert "error" in response.json()


def test_logged_in_user_reads_run_info(client: Client, alice: Any, queued_run_id: str) -> None:
    client.force_login(alice)
    response = client.get(f"/api/runs/{queued_run_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == queued_run_id and body["status"] == "queued" and body["steps"] == []
    assert body["function_id"] == "echo" and body["event_name"] == ECHO


def test_unknown_run_is_404_json(client: Client, alice: Any, synced: None) -> None:
    client.force_login(alice)
    response = client.get("/api/runs/no-such-run")
    assert response.status_code == 404
    assert "no-such-run" in response.json()["error"]


def test_post_on_a_run_is_405_json(client: Client, alice: Any, queued_run_id: str) -> None:
    client.force_login(alice)
    response = client.post(f"/api/runs/{queued_run_id}")
    assert response.status_code == 405 and "error" in response.json()


def test_runs_of_an_event(client: Client, alice: Any, queued_run_id: str) -> None:
    event_id = Run.objects.get(id=queued_run_id).event_id
    assert client.get(f"/api/events/{event_id}/runs").status_code == 401
    client.force_login(alice)
    body = client.get(f"/api/events/{event_id}/runs").json()
    assert [run["id"] for run in body["runs"]] == [queued_run_id]
    missing = client.get("/api/events/no-such-event/runs")
    assert missing.status_code == 404 and "error" in missing.json()


def _token_for(username: str, capsys: pytest.CaptureFixture[str]) -> str:
    call_command("create_api_token", username)
    return capsys.readouterr().out.strip()


def test_api_token_holder_reads_runs(client: Client, alice: Any, queued_run_id: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    key = _token_for("alice", capsys)
    assert ApiToken.objects.get(user=alice).digest == tokens.digest_of(key) and len(key) >= 40
    response = client.get(f"/api/runs/{queued_run_id}", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200 and response.json()["id"] == queued_run_id
    wrong = client.get(f"/api/runs/{queued_run_id}", headers={"Authorization": f"Bearer {key}x"})
    assert wrong.status_code == 401
    # The event key is not an API token.
    event = client.get(f"/api/runs/{queued_run_id}", headers={"Authorization": f"Bearer {EVENT_KEY}"})
    assert event.status_code == 401


def test_an_inactive_users_token_is_refused(client: Client, alice: Any, queued_run_id: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    key = _token_for("alice", capsys)
    alice.is_active = False
    alice.save()
    response = client.get(f"/api/runs/{queued_run_id}", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401


def test_create_api_token_never_prints_a_token_again(alice: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # Only a digest is stored, so an existing token cannot be printed: each call makes a new one.
    first = _token_for("alice", capsys)
    second = _token_for("alice", capsys)
    assert first != second
    assert ApiToken.objects.filter(user=alice).count() == 2
    stored = " ".join(str(value) for row in ApiToken.objects.values() for value in row.values())
    assert first not in stored and second not in stored


def test_create_api_token_for_an_unknown_user_is_a_clear_error(db: None) -> None:
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("create_api_token", "nobody")
    assert ApiToken.objects.count() == 0


# --- A finished run over the API and on the pages (needs a worker) --------------------------------------------


@pytest.fixture
def finished_run_id(worker: Any, settings: Any) -> Iterator[str]:
    settings.RUNS_EVENT_KEY = EVENT_KEY
    [event_id] = post(Client(), {"name": ECHO, "data": {"html": XSS}}).json()["ids"]
    run_id = Run.objects.get(event_id=event_id).id
    assert wait_for_run(run_id, timeout=15).status == "completed"
    yield run_id


def test_run_info_of_a_finished_run_has_its_steps(client: Client, finished_run_id: str) -> None:
    client.force_login(get_user_model().objects.create_user("bob"))
    body = client.get(f"/api/runs/{finished_run_id}").json()
    assert body["status"] == "completed" and body["output"] == {"html": XSS}
    [step] = body["steps"]
    assert (step["step_id"], step["kind"], step["status"]) == ("copy-data", "run", "completed")
    assert step["output"] == {"html": XSS}


def test_pages_redirect_anonymous_users_to_login(client: Client, queued_run_id: str) -> None:
    for url in ("/runs/", f"/runs/{queued_run_id}/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), response["Location"]


def test_pages_render_for_a_user_with_user_data_escaped(client: Client, finished_run_id: str) -> None:
    client.force_login(get_user_model().objects.create_user("carol"))
    listing = client.get("/runs/")
    assert listing.status_code == 200 and finished_run_id in listing.content.decode()
    page = client.get(f"/runs/{finished_run_id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert finished_run_id in html
    assert XSS not in html  # the payload is never emitted as markup...
    assert "&lt;script&gt;alert(" in html  # ...but shown, escaped
    assert client.get("/runs/no-such-run/").status_code == 404
