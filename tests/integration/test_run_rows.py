"""The runs table has one renderer (templates/runs/_run_row.html): the first render of the runs page and the
rows its live updates fetch (GET /partials/run-rows) are the same HTML. The endpoint needs a login, answers bad
input with a 400 and a JSON reason, and escapes what users wrote."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dashboard.views import MAX_ROWS_PER_REQUEST
from runs.models import Run
from tests.benchmarks.trees import run_row, wide_tree

ROWS = "/partials/run-rows"


@pytest.fixture
def browser(client: Client, db: None) -> Client:
    client.force_login(get_user_model().objects.create_user("watcher", password="pw"))
    return client


def rows_in(html: str) -> dict[str, str]:
    """run id -> the <tr> element's HTML, whitespace between tags dropped."""
    found = re.findall(r'<tr data-run-id="([^"]+)".*?</tr>', html, re.S)
    rows = re.findall(r'(<tr data-run-id="[^"]+".*?</tr>)', html, re.S)
    return {run_id: re.sub(r">\s+<", "><", row) for run_id, row in zip(found, rows, strict=True)}


def test_a_fetched_row_is_the_row_the_page_rendered(browser: Client) -> None:
    root, mid, leaf = wide_tree("ROWS", mids=2, leaves_per_mid=2)
    page = rows_in(browser.get("/runs/", {"root_only": "0"}).content.decode())
    assert {root, mid, leaf} <= set(page)
    fetched = browser.get(ROWS, {"id": [leaf, root, mid, "NOSUCHRUN"]})
    assert fetched.status_code == 200 and fetched["Content-Type"].startswith("text/html")
    rows = rows_in(fetched.content.decode())
    assert list(rows) == [run.id for run in Run.objects.filter(id__in=[root, mid, leaf])
                          .order_by("-created_at", "-id")]  # newest first, as the page lists them
    for run_id, row in rows.items():
        assert row == page[run_id]
    assert "7 runs" in rows[root] and "leaf" in rows[root]  # the tree size and the root cause, as on the page
    assert "No runs match" not in fetched.content.decode()


def test_without_ids_it_is_the_first_page_for_the_filters(browser: Client) -> None:
    wide_tree("FIRST", mids=1, leaves_per_mid=1)
    filtered = browser.get(ROWS, {"function": "mid"}).content.decode()
    assert list(rows_in(filtered)) == ["FIRSTm0"]
    assert rows_in(filtered) == rows_in(browser.get("/runs/", {"function": "mid"}).content.decode())
    assert "No runs match these filters." in browser.get(ROWS, {"function": "nothing-by-that-name"}).content.decode()


def test_rows_are_fetched_in_a_fixed_number_of_queries(browser: Client) -> None:
    ids = wide_tree("FEW", mids=3, leaves_per_mid=5)
    many = list(Run.objects.values_list("id", flat=True)[:MAX_ROWS_PER_REQUEST])
    with CaptureQueriesContext(connection) as one:
        browser.get(ROWS, {"id": ids[:1]})
    with CaptureQueriesContext(connection) as all_of_them:
        browser.get(ROWS, {"id": many})
    assert len(all_of_them) == len(one)


@pytest.mark.parametrize(("query", "reason"), [
    ({"id": [f"R{i}" for i in range(MAX_ROWS_PER_REQUEST + 1)]}, "at most"),
    ({"id": ["a/b"]}, "not a run id"),
    ({"id": [""]}, "not a run id"),
    ({"status": "sideways"}, "status must be one of"),
    ({"since": "forever"}, "since"),
])
def test_bad_input_is_a_400_with_a_reason(browser: Client, query: dict[str, Any], reason: str) -> None:
    answer = browser.get(ROWS, query)
    assert answer.status_code == 400 and reason in answer.json()["error"]


def test_it_needs_a_login_and_says_so_in_json(client: Client, db: None) -> None:
    Run.objects.bulk_create([run_row("SECRET")])
    answer = client.get(ROWS, {"id": ["SECRET"]})
    assert answer.status_code == 401 and "log in" in answer.json()["error"]
    assert client.post(ROWS).status_code == 405


def test_user_data_in_a_row_is_escaped(browser: Client) -> None:
    Run.objects.bulk_create([run_row("XSS", function_id="<script>alert(1)</script>", app_id="<b>app</b>")])
    html = browser.get(ROWS, {"id": ["XSS"]}).content.decode()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>app</b>" not in html
