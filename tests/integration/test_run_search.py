"""Searching runs (issue 11 item 7): GET /api/runs and the runs page take q (function id, event name, run or
event id prefix), data key=value (JSON containment on event_data), from/to, page_size, a previous-page cursor
and give an estimated total. Run on PostgreSQL and on SQLite (DATABASE_URL)."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.utils import timezone

from dashboard import queries
from runs.models import Run
from tests.benchmarks.trees import run_row


@pytest.fixture
def api(client: Client, db: None) -> Client:
    client.force_login(get_user_model().objects.create_user("searcher", password="pw"))
    return client


def ids(api: Client, **query: Any) -> list[str]:
    response = api.get("/api/runs", query)
    assert response.status_code == 200, response.content
    return [run["id"] for run in response.json()["runs"]]


def body(api: Client, **query: Any) -> dict[str, Any]:
    response = api.get("/api/runs", query)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def searchable(db: None) -> dict[str, Any]:
    now = timezone.now()
    Run.objects.bulk_create([
        run_row("srchaaa1", function_id="billing", event_name="order/placed", event_id="evtAAA1",
                event_data={"user": 42, "plan": "pro", "tags": ["a", "b"]}, created_at=now - timedelta(hours=3)),
        run_row("srchaaa2", function_id="billing", event_name="order/refunded", event_id="evtAAA2",
                event_data={"user": "42", "plan": "free"}, created_at=now - timedelta(hours=2)),
        run_row("srchbbb3", function_id="mailer", event_name="order/placed", event_id="evtBBB3",
                event_data={"user": 7, "ok": True, "a__b": 1, "city": "Zürich"}, created_at=now - timedelta(hours=1)),
        run_row("srchbbb4", function_id="mailer", event_name="user/signup", event_id="evtBBB4",
                event_data={"nested": {"x": 1}}, created_at=now, parent_run_id="srchbbb3", root_run_id="srchbbb3"),
    ])
    return {"now": now}


def test_q_matches_a_function_id_an_event_name_and_id_prefixes(api: Client, searchable: Any) -> None:
    assert ids(api, q="billing") == ["srchaaa2", "srchaaa1"]
    assert ids(api, q="order/placed") == ["srchbbb3", "srchaaa1"]
    assert ids(api, q="srchbb") == ["srchbbb4", "srchbbb3"]  # run id prefix
    assert ids(api, q="evtAAA") == ["srchaaa2", "srchaaa1"]  # event id prefix
    assert ids(api, q="srchaaa1") == ["srchaaa1"]
    assert ids(api, q="bill") == []  # a function id matches whole, not by prefix


def test_data_is_json_containment_with_json_values_else_text(api: Client, searchable: Any) -> None:
    assert ids(api, data="user=42") == ["srchaaa1"]  # the number
    assert ids(api, data='user="42"') == ["srchaaa2"]  # the string
    assert ids(api, data="plan=pro") == ["srchaaa1"]  # not JSON: text
    assert ids(api, data="ok=true") == ["srchbbb3"]
    assert ids(api, data="a__b=1") == ["srchbbb3"]
    assert ids(api, data="city=Zürich") == ["srchbbb3"]  # a key with "__" is a key, not a path
    assert ids(api, data='nested={"x": 1}') == ["srchbbb4"]
    assert ids(api, data=["user=42", "plan=pro"]) == ["srchaaa1"]  # repeated: all must hold
    assert ids(api, data=["user=42", "plan=free"]) == []
    assert ids(api, data="nobody=1") == []


def test_from_and_to_bound_the_creation_time(api: Client, searchable: Any) -> None:
    now = searchable["now"]
    start = (now - timedelta(hours=2, minutes=30)).isoformat()
    end = (now - timedelta(minutes=30)).isoformat()
    assert ids(api, **{"from": start, "to": end}) == ["srchbbb3", "srchaaa2"]
    assert ids(api, **{"from": start}) == ["srchbbb4", "srchbbb3", "srchaaa2"]
    assert ids(api, to=end) == ["srchbbb3", "srchaaa2", "srchaaa1"]
    naive_utc = (now - timedelta(minutes=30)).astimezone(UTC).replace(tzinfo=None).isoformat()
    assert ids(api, to=naive_utc) == ["srchbbb3", "srchaaa2", "srchaaa1"]  # no offset: UTC


def test_page_size_next_and_previous_pages_and_the_estimated_total(api: Client, db: None) -> None:
    now = timezone.now()
    Run.objects.bulk_create([run_row(f"pg{n:03d}", created_at=now - timedelta(seconds=n)) for n in range(25)])
    first = body(api, page_size=10)
    assert [r["id"] for r in first["runs"]] == [f"pg{n:03d}" for n in range(10)]
    assert first["prev"] is None and first["estimated_total"] == 25 and first["total_capped"] is False
    second = body(api, page_size=10, cursor=first["next"])
    assert [r["id"] for r in second["runs"]] == [f"pg{n:03d}" for n in range(10, 20)]
    third = body(api, page_size=10, cursor=second["next"])
    assert [r["id"] for r in third["runs"]] == [f"pg{n:03d}" for n in range(20, 25)] and third["next"] is None
    back = body(api, page_size=10, cursor=third["prev"])
    assert [r["id"] for r in back["runs"]] == [f"pg{n:03d}" for n in range(10, 20)]
    assert back["next"] == second["next"]
    top = body(api, page_size=10, cursor=back["prev"])
    assert [r["id"] for r in top["runs"]] == [f"pg{n:03d}" for n in range(10)] and top["prev"] is None


def test_the_total_is_capped(api: Client, db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queries, "COUNT_CAP", 3)
    Run.objects.bulk_create([run_row(f"cap{n}") for n in range(5)])
    answer = body(api)
    assert answer["estimated_total"] == 3 and answer["total_capped"] is True and len(answer["runs"]) == 5


BAD = {
    "page_size below 10": ({"page_size": "9"}, "page_size"),
    "page_size above 500": ({"page_size": "501"}, "page_size"),
    "page_size and limit": ({"page_size": "20", "limit": "20"}, "not both"),
    "from not a date": ({"from": "yesterday"}, "from"),
    "to out of range": ({"to": "9999-12-31T23:59:00-05:00"}, "range"),
    "from after to": ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "before"),
    "data without =": ({"data": "user"}, "key=value"),
    "data without key": ({"data": "=1"}, "key=value"),
    "data NaN": ({"data": "x=NaN"}, "range"),
    "data huge integer": ({"data": f"x={2**80}"}, "range"),
    "data NUL": ({"data": "x=a\x00"}, "data"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_search_parameters_are_400_with_a_reason(api: Client, searchable: Any, case: str) -> None:
    query, reason = BAD[case]
    response = api.get("/api/runs", query)
    assert response.status_code == 400, (case, response.content[:300])
    assert reason in response.json()["error"]


def test_the_runs_page_searches_and_shows_root_runs_only_unless_filtered(api: Client, searchable: Any) -> None:
    page = api.get("/runs/").content.decode()
    assert "srchbbb3" in page and "srchbbb4" not in page  # the unfiltered list: root runs only
    assert "about 3 runs" in page
    every = api.get("/runs/", {"root_only": "0"}).content.decode()
    assert "srchbbb4" in every and "about 4 runs" in every
    found = api.get("/runs/", {"q": "srchbbb4"}).content.decode()  # a search finds child runs too
    assert "srchbbb4" in found and "about 1 run" in found
    by_data = api.get("/runs/", {"data": "user=7", "page_size": "10"}).content.decode()
    assert "srchbbb3" in by_data and "srchaaa1" not in by_data and 'value="user=7"' in by_data
    bad = api.get("/runs/", {"from": "nope"})
    assert bad.status_code == 200 and "Ignored the filters" in bad.content.decode()


def test_the_runs_page_links_to_older_and_newer_pages(api: Client, db: None) -> None:
    now = timezone.now()
    Run.objects.bulk_create([run_row(f"lk{n:03d}", created_at=now - timedelta(seconds=n)) for n in range(15)])
    first = api.get("/runs/", {"page_size": "10"}).context
    assert first["older_url"] and not first["newer_url"]
    second = api.get("/runs/" + first["older_url"]).context
    assert [row.run.id for row in second["rows"]] == [f"lk{n:03d}" for n in range(10, 15)]
    back = api.get("/runs/" + second["newer_url"]).context
    assert [row.run.id for row in back["rows"]] == [f"lk{n:03d}" for n in range(10)]


def test_postgresql_serves_data_containment_from_the_gin_index(db: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the GIN index exists on PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'run_event_data_gin'")
        (definition,) = cursor.fetchone()
        assert "jsonb_path_ops" in definition
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, sql_params = Run.objects.filter(queries.event_data_has("user", 42)).values("id").query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", sql_params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "run_event_data_gin" in plan, plan
