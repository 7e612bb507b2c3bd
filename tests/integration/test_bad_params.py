"""Input that used to answer 500 (hardening items 10 and 12): forged cursors, odd digits, NUL and lone surrogates
where the database cannot take them, data nested too deep on the send form; a bulk action that fails half-way;
audit records of refused actions on ids that are not run ids. Each is a 400 with a reason (pages: the form with
an error), or a page that renders."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client

from runs import client, operations
from runs.exceptions import RunNotFound
from runs.models import Event, OperatorAction, Run
from runs.sdk import App, Context
from runs.store.functions import sync_functions

app = App("it-bad-params")
NAME = "bad-params/go"


@app.function(id="idle", trigger=NAME, retries=0)
async def idle(ctx: Context) -> None:
    return None


@pytest.fixture
def http(db: None) -> Client:
    sync_functions(app.functions.values())
    user = User.objects.create_user("op")  # no password: no hashing per test
    user.user_permissions.add(Permission.objects.get(codename="operate_run"))
    session = Client()
    session.force_login(user)
    return session


def cursor(at: str, row_id: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([at, row_id]).encode()).decode().rstrip("=")


FORGED_CURSORS = {
    "year 1 east of UTC": cursor("0001-01-01T00:30:00+01:00", "X"),
    "year 9999 west of UTC": cursor("9999-12-31T23:30:00-01:00", "X"),
    "NUL in the id": cursor("2024-01-01T00:00:00+00:00", "a\x00b"),
    "lone surrogate in the id": cursor("2024-01-01T00:00:00+00:00", "\ud800"),
    "nested": base64.urlsafe_b64encode(b"[" * 5000).decode(),
}


@pytest.mark.parametrize("case", list(FORGED_CURSORS))
@pytest.mark.parametrize("url", ["/api/runs", "/api/events"])
def test_a_forged_cursor_is_a_400_with_a_reason(http: Client, url: str, case: str) -> None:
    client.send(NAME)
    response = http.get(url, {"cursor": FORGED_CURSORS[case]})
    assert response.status_code == 400, (case, response.content[:300])
    assert "cursor" in response.json()["error"]


def test_a_cursor_with_an_offset_postgresql_refuses_is_read_in_utc(http: Client) -> None:
    client.send(NAME)
    response = http.get("/api/events", {"cursor": cursor("2999-01-01T00:00:00+23:59", "zzz")})
    assert response.status_code == 200 and len(response.json()["events"]) == 1
    bulk = http.post("/api/runs/bulk", data=json.dumps({"action": "cancel", "dry_run": True,
                                                        "filters": {"since": "2000-01-01T00:00:00+23:59"}}),
                     content_type="application/json")
    assert bulk.status_code == 200 and bulk.json()["matched"] == 1


@pytest.mark.parametrize("case", list(FORGED_CURSORS))
def test_pages_with_a_forged_cursor_render(http: Client, case: str) -> None:
    client.send(NAME)
    runs = http.get("/runs/", {"cursor": FORGED_CURSORS[case]})
    assert runs.status_code == 200 and "cursor" in runs.content.decode()  # "Ignored the filters: cursor ..."
    assert http.get("/events/", {"cursor": FORGED_CURSORS[case]}).status_code == 200


@pytest.mark.parametrize("value", ["²", "١٢", "1e3", "-1", "0", "501", " 7x"])
def test_a_limit_that_is_not_ascii_digits_in_range_is_400(http: Client, value: str) -> None:
    for url in ("/api/runs", "/api/events"):
        response = http.get(url, {"limit": value})
        assert response.status_code == 400 and "limit" in response.json()["error"], (url, value)


BAD_FILTERS = {
    "NUL in a text filter": ({"function": "a\x00b"}, "NUL"),
    "lone surrogate": ({"app": "\ud800"}, "surrogate"),
    "NUL in root_run_id": ({"root_run_id": "\x00"}, "NUL"),
    "too long": ({"status": "x" * 201}, "longer"),
    "since before year 1 in UTC": ({"since": "0001-01-01T00:00:00+05:00"}, "range"),
    "until after year 9999 in UTC": ({"until": "9999-12-31T23:59:00-05:00"}, "range"),
}


@pytest.mark.parametrize("case", list(BAD_FILTERS))
@pytest.mark.parametrize("dry_run", [True, False])
def test_bulk_filters_no_database_can_compare_are_400(http: Client, case: str, dry_run: bool) -> None:
    filters, word = BAD_FILTERS[case]
    client.send(NAME)
    # json.dumps escapes a lone surrogate as \ud800, which parses back to one: the server sees it.
    response = http.post("/api/runs/bulk", data=json.dumps({"action": "cancel", "filters": filters,
                                                            "dry_run": dry_run}),
                         content_type="application/json")
    assert response.status_code == 400, (case, response.content[:300])
    assert word in response.json()["error"]
    assert not Run.objects.exclude(status="queued").exists()
    assert not OperatorAction.objects.exists()


@pytest.mark.parametrize("url", ["/api/runs/a%00b", "/api/runs/a%00b/graph", "/api/events/a%00b/runs"])
def test_nul_in_a_path_id_is_400_json(http: Client, url: str) -> None:
    response = http.get(url)
    assert response.status_code == 400 and "NUL" in response.json()["error"]


@pytest.mark.parametrize("action", ["cancel", "retry"])
def test_nul_in_the_run_id_of_an_action_is_400_json_and_records_nothing(http: Client, action: str) -> None:
    response = http.post(f"/api/runs/a%00b/{action}", data="{}", content_type="application/json")
    assert response.status_code == 400 and "NUL" in response.json()["error"]
    assert not OperatorAction.objects.exists()


def test_nul_in_a_page_path_id_is_400(http: Client) -> None:
    response = http.get("/runs/a%00b/")
    assert response.status_code == 400 and b"NUL" in response.content


@pytest.mark.parametrize("field", ["user", "run", "action", "outcome"])
def test_nul_in_an_audit_filter_shows_the_form_with_an_error(http: Client, field: str) -> None:
    response = http.get("/audit/", {field: "a\x00b"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="audit-filters"' in page and f"{field} contains a NUL character" in page


@pytest.mark.parametrize("before", ["²", "99999999999999999999999999", "-5", "abc"])
def test_an_audit_before_that_is_no_record_id_is_ignored(http: Client, before: str) -> None:
    assert http.get("/audit/", {"before": before}).status_code == 200


def test_sending_data_nested_1000_deep_from_the_events_page_shows_the_form_with_an_error(http: Client) -> None:
    data = "[" * 1000 + "]" * 1000
    response = http.post("/events/send", {"name": NAME, "data": '{"a": ' + data + "}"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Not sent" in page and "deep" in page and 'name="data"' in page
    assert not Event.objects.exists()
    too_deep = {"a": json.loads("[" * 70 + "]" * 70)}  # parses, but deeper than intake takes
    response = http.post("/events/send", {"name": NAME, "data": json.dumps(too_deep)})
    assert response.status_code == 400 and "deeper than" in response.content.decode()
    assert not Event.objects.exists()


# --- item 12: the audit trail ------------------------------------------------------------------------------


@pytest.mark.parametrize("bogus", ["", "a/b", "x" * 300, "<b>bold</b>"])
def test_refused_actions_on_ids_that_are_not_run_ids_are_listed_without_links(http: Client, bogus: str) -> None:
    with pytest.raises(RunNotFound):
        operations.cancel(bogus, actor="script")
    assert OperatorAction.objects.get().outcome == "refused"
    response = http.get("/audit/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="not-a-run"' in page and "<b>bold</b>" not in page
    assert http.get("/audit/", {"run": bogus}).status_code == 200


def _fail_updates_of(run_id: str) -> None:
    """A database that refuses to change one run (a trigger): what a failure in the middle of a bulk action
    looks like from the outside, with real rows and real transactions."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"""
                CREATE FUNCTION refuse_run_update() RETURNS trigger AS $$
                BEGIN RAISE EXCEPTION 'refused by the test trigger'; END $$ LANGUAGE plpgsql;
                CREATE TRIGGER refuse_run_update BEFORE UPDATE ON runs_run FOR EACH ROW
                WHEN (OLD.id = '{run_id}') EXECUTE FUNCTION refuse_run_update();""")
        else:
            cursor.execute(f"""CREATE TRIGGER refuse_run_update BEFORE UPDATE ON runs_run FOR EACH ROW
                WHEN OLD.id = '{run_id}' BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END""")


def _drop_trigger() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER IF EXISTS refuse_run_update ON runs_run; "
                           "DROP FUNCTION IF EXISTS refuse_run_update()")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS refuse_run_update")


@pytest.mark.django_db(transaction=True)
def test_a_bulk_action_that_fails_half_way_finishes_its_audit_record_as_failed() -> None:
    sync_functions(app.functions.values())
    ids = [run.id for event_id in client.send_many([{"name": NAME}] * 3) for run in client.runs_for_event(event_id)]
    ordered = list(Run.objects.filter(id__in=ids).order_by("created_at", "id").values_list("id", flat=True))
    _fail_updates_of(ordered[1])
    try:
        with pytest.raises(Exception, match="refused by the test trigger"):
            operations.bulk("cancel", {"app": "it-bad-params"}, actor="script")
    finally:
        _drop_trigger()
    record = OperatorAction.objects.get()
    assert record.outcome == "failed" and record.processed == 1 and record.run_ids == [ordered[0]]
    assert "refused by the test trigger" in record.detail and "1 of 3" in record.detail
    assert Run.objects.get(id=ordered[0]).status == "cancelled"  # done stays done
    user = User.objects.create_user("viewer")
    http = Client()
    http.force_login(user)
    page = http.get("/audit/").content.decode()
    assert 'http-equiv="refresh"' not in page  # nothing is running: the page stops reloading itself
    assert "failed" in page
    assert http.get("/audit/", {"outcome": "failed"}).content.decode().count('class="audit-entry') == 1


SEARCH_PARAMS = {
    "page_size": ["9", "501", "²", "1e2"],
    "from": ["yesterday", "0001-01-01T00:30:00+01:00", "2026-13-01"],
    "to": ["9999-12-31T23:30:00-01:00", "\x00"],
    "data": ["novalue", "=1", "x=NaN", "x=Infinity", f"x={2**80}", "x=a\x00", "x=" + "a" * 300, "[" * 3000],
}


@pytest.mark.parametrize(("name", "value"), [(name, value) for name, values in SEARCH_PARAMS.items()
                                             for value in values])
def test_search_parameters_no_database_can_take_are_400_and_the_page_says_so(http: Client, name: str,
                                                                             value: str) -> None:
    client.send(NAME)
    response = http.get("/api/runs", {name: value})
    assert response.status_code == 400, (name, value, response.content[:300])
    assert response.json()["error"]
    page = http.get("/runs/", {name: value})
    assert page.status_code == 200 and "Ignored the filters" in page.content.decode()
