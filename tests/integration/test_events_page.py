"""The Events page and its API (issue 11 item 7): filter by name and time, search by id prefix, each event's
runs, pagination both ways, and Replay (permission, CSRF, audited, the new event noted as a replay)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from runs.models import Event, Function, OperatorAction, Run
from runs.status import OperatorActionName
from tests.benchmarks.trees import run_row
from tests.helpers import operator as user

NAME = "shop/order.placed"


@pytest.fixture
def events(db: None) -> list[Event]:
    """Six events a minute apart, two names; received_at set so time filters have something to cut."""
    base = timezone.now() - timedelta(hours=1)
    made = []
    for n in range(6):
        event = Event.objects.create(id=f"{'ab' if n % 2 else 'cd'}{n:02d}-evt", name=NAME if n % 2 else "shop/other",
                                     data={"n": n}, ts=n)
        Event.objects.filter(id=event.id).update(received_at=base + timedelta(minutes=n))
        made.append(event)
    return made


@pytest.fixture
def api(client: Client, db: None) -> Client:
    client.force_login(user("reader", allowed=False))
    return client


def listed(api: Client, **query: Any) -> dict[str, Any]:
    response = api.get("/api/events", query)
    assert response.status_code == 200, response.content
    return response.json()


def ids(body: dict[str, Any]) -> list[str]:
    return [event["id"] for event in body["events"]]


def test_filters_by_name_time_range_and_id_prefix(api: Client, events: list[Event]) -> None:
    assert ids(listed(api, name=NAME)) == ["ab05-evt", "ab03-evt", "ab01-evt"]
    base = Event.objects.get(id="cd00-evt").received_at
    window = {"from": (base + timedelta(minutes=2)).isoformat(), "to": (base + timedelta(minutes=4, seconds=30)).isoformat()}
    assert ids(listed(api, **window)) == ["cd04-evt", "ab03-evt", "cd02-evt"]
    assert ids(listed(api, name=NAME, **window)) == ["ab03-evt"]
    assert ids(listed(api, q="cd0")) == ["cd04-evt", "cd02-evt", "cd00-evt"]
    assert ids(listed(api, q="zz")) == []


def test_pages_go_older_and_back_newer_with_cursors(api: Client, events: list[Event]) -> None:
    first = listed(api, page_size=10, name="shop/other")
    assert first["prev"] is None and first["next"] is None
    page1 = listed(api, limit=2)
    page2 = listed(api, limit=2, cursor=page1["next"])
    assert ids(page1) == ["ab05-evt", "cd04-evt"] and ids(page2) == ["ab03-evt", "cd02-evt"]
    back = listed(api, limit=2, cursor=page2["prev"])
    assert ids(back) == ids(page1) and back["prev"] is None


def test_each_event_lists_the_runs_it_started(api: Client, events: list[Event]) -> None:
    Run.objects.bulk_create([run_row("r-a", event_id="ab03-evt"), run_row("r-b", event_id="ab03-evt", function_id="g")])
    [event] = listed(api, q="ab03")["events"]
    assert [run["id"] for run in event["runs"]] == ["r-a", "r-b"]
    page = api.get("/events/", {"q": "ab03"}).content.decode()
    assert 'href="/runs/r-a/"' in page and 'href="/runs/r-b/"' in page


@pytest.mark.parametrize("query", [{"from": "yesterday"}, {"from": "2026-01-02", "to": "2026-01-01"},
                                   {"q": "x" * 300}, {"name": "a\x00b"}, {"cursor": "%%%"}])
def test_bad_filters_are_400_json_and_the_page_says_so(api: Client, events: list[Event], query: dict[str, str]) -> None:
    response = api.get("/api/events", query)
    assert response.status_code == 400 and response.json()["error"]
    page = api.get("/events/", query)
    assert page.status_code == 200
    assert b"Ignored the filters" in page.content


def test_the_page_filters_and_keeps_the_filters_in_its_links(api: Client, events: list[Event]) -> None:
    page = api.get("/events/", {"name": NAME}).content.decode()
    assert "ab05-evt" in page and "cd04-evt" not in page
    assert 'value="shop/order.placed"' in page and "clear filters" in page


# --- replay ---------------------------------------------------------------------------------------------------
@pytest.fixture
def triggered(db: None) -> Function:
    return Function.objects.create(app_id="shop", function_id="fulfil", trigger=NAME)


def session(client: Client, *, allowed: bool = True) -> Client:
    client.force_login(user("op" if allowed else "viewer", allowed=allowed))
    client.get("/events/")  # the csrftoken cookie
    return client


def csrf(http: Client) -> dict[str, str]:
    return {"HTTP_X_CSRFTOKEN": http.cookies["csrftoken"].value}


def replay(http: Client, event_id: str, **extra: str) -> Any:
    return http.post(f"/api/events/{event_id}/replay", data=json.dumps({}), content_type="application/json", **extra)


def test_replay_sends_the_same_name_and_data_as_a_new_event_and_audits_it(
        events: list[Event], triggered: Function) -> None:
    http = session(Client(enforce_csrf_checks=True))
    response = replay(http, "ab03-evt", **csrf(http))
    assert response.status_code == 200, response.content
    body = response.json()
    new = Event.objects.get(id=body["event_id"])
    assert new.id != "ab03-evt" and (new.name, new.data, new.replay_of) == (NAME, {"n": 3}, "ab03-evt")
    [run] = Run.objects.filter(event_id=new.id)
    assert body["run_ids"] == [run.id] and run.function_id == "fulfil" and run.event_data == {"n": 3}
    [record] = OperatorAction.objects.filter(action=OperatorActionName.REPLAY_EVENT)
    assert record.username == "op" and record.run_ids == [run.id] and "ab03-evt" in record.detail
    # The list says which event the new one replays.
    [shown] = listed(http, q=new.id)["events"]
    assert shown["replay_of"] == "ab03-evt"


def test_replay_needs_csrf_permission_and_a_known_event(events: list[Event], triggered: Function) -> None:
    http = session(Client(enforce_csrf_checks=True))
    assert replay(http, "ab03-evt").status_code == 403  # no CSRF token
    assert replay(http, "nope", **csrf(http)).status_code == 404
    assert replay(http, "x" * 80, **csrf(http)).status_code == 404
    assert http.get("/api/events/ab03-evt/replay").status_code == 405
    viewer = session(Client(enforce_csrf_checks=True), allowed=False)
    refused = replay(viewer, "ab03-evt", **csrf(viewer))
    assert refused.status_code == 403 and "operate_run" in refused.json()["error"]
    assert Event.objects.count() == len(events)  # nothing was sent
    assert not OperatorAction.objects.filter(outcome="done").exists()


def test_the_engines_own_events_are_not_replayed(db: None) -> None:
    Event.objects.create(id="fin-1", name="inngest/function.finished", data={"function_id": "x"}, ts=1)
    http = session(Client(enforce_csrf_checks=True))
    response = replay(http, "fin-1", **csrf(http))
    assert response.status_code == 409 and "not replayed" in response.json()["error"]
    [record] = OperatorAction.objects.filter(action=OperatorActionName.REPLAY_EVENT)
    assert record.outcome == "refused"


def test_the_page_replays_with_a_form_and_csrf(events: list[Event], triggered: Function) -> None:
    http = session(Client(enforce_csrf_checks=True))
    page = http.get("/events/").content.decode()
    assert 'action="/events/ab03-evt/replay"' in page and "csrfmiddlewaretoken" in page
    assert http.post("/events/ab03-evt/replay").status_code == 403  # CSRF
    response = http.post("/events/ab03-evt/replay", {"csrfmiddlewaretoken": http.cookies["csrftoken"].value})
    assert response.status_code == 302
    new = Event.objects.get(replay_of="ab03-evt")
    followed = http.get(response["Location"]).content.decode()
    assert f"Replayed {NAME} as {new.id}: 1 run started." in followed
    assert "replay of" in followed
    viewer = session(Client(), allowed=False)
    assert 'class="replay-form"' not in viewer.get("/events/").content.decode()
    assert viewer.post("/events/ab03-evt/replay").status_code == 403


@pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans are PostgreSQL's")
def test_each_filter_has_an_index(api: Client, events: list[Event]) -> None:
    """With sequential scans priced out, each filter's query is an index scan: the indexes exist and fit."""
    from dashboard import queries
    from dashboard.params import EventFilters

    base = Event.objects.get(id="cd00-evt").received_at
    cases = {"event_name_received": EventFilters(name=NAME, start=base, end=base + timedelta(minutes=10)),
             "received_at": EventFilters(start=base),
             "runs_event_id": EventFilters(q="ab0")}
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for index, filters in cases.items():
            sql, params = (Event.objects.filter(queries._event_conditions(filters))
                           .order_by("-received_at", "-id")[:51].query.sql_with_params())
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Index" in plan and index in plan, plan
