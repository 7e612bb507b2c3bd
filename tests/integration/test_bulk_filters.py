"""O6 review fixes: bulk filters refuse bad since/until values with a 400 (not a 500) and read naive moments as
UTC; the audit trail finds a run's actions through the OperatorActionRun join (not a scan of recent rows);
the run page's propagation path comes from the one read-only implementation in dashboard.queries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from dashboard import queries
from runs import client, operations
from runs.exceptions import ActionRefused, InvalidFilter
from runs.models import OperatorAction, OperatorActionRun, Run
from runs.sdk import App, Context
from runs.store import audit
from runs.testing import wait_for_run

app = App("it-bulk-filters")


@app.function(id="bf-sleeper", trigger="bulkfilters/sleep", retries=0)
async def sleeper(ctx: Context) -> None:
    await ctx.step.sleep("nap", "1h")


@app.function(id="bf-leaf", trigger="bulkfilters/leaf", retries=0)
async def leaf(ctx: Context) -> None:
    raise RuntimeError("the leaf breaks")


@app.function(id="bf-middle", trigger="bulkfilters/middle", retries=0)
async def middle(ctx: Context) -> None:
    await ctx.step.invoke("call-leaf", function=leaf, data={})


@app.function(id="bf-top", trigger="bulkfilters/top", retries=0)
async def top(ctx: Context) -> None:
    await ctx.step.invoke("call-middle", function=middle, data={})


def started(name: str) -> str:
    [run] = client.runs_for_event(client.send(name))
    return run.id


@pytest.fixture
def session(worker) -> Client:  # type: ignore[no-untyped-def]
    user = User.objects.create_user("filter-op", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="operate_run"))
    http = Client()
    http.force_login(user)
    return http


def bulk(http: Client, filters: dict[str, object], dry_run: bool = True):  # type: ignore[no-untyped-def]
    body = {"action": "cancel", "filters": filters, "dry_run": dry_run}
    return http.post("/api/runs/bulk", data=json.dumps(body), content_type="application/json")


# --- bad since/until: 400 with a reason, nothing audited ---------------------------------------------------
@pytest.mark.parametrize("filters", [
    {"since": 5}, {"since": ["x"]}, {"since": {"at": "now"}}, {"since": True},
    {"since": "2024-02-30T00:00:00"},  # looks like a date-time, is not one: parse_datetime raises
    {"until": "2024-13-01T00:00:00Z"}, {"until": "yesterday"}, {"function": ["bf-sleeper"]},
])
def test_o6_bulk_with_a_malformed_filter_value_is_a_400(session: Client, filters: dict[str, object]) -> None:
    for dry_run in (True, False):
        response = bulk(session, filters, dry_run=dry_run)
        assert response.status_code == 400, response.content
        key = next(iter(filters))
        assert key in response.json()["error"]
    assert not OperatorAction.objects.exists()


def test_o6_unknown_filter_keys_stay_a_409(session: Client) -> None:
    assert bulk(session, {"colour": "red"}).status_code == 409


def test_invalid_filter_is_an_action_refused_for_python_callers(worker) -> None:
    with pytest.raises(InvalidFilter, match="since"):
        client.bulk_cancel(function="bf-sleeper", since="2024-02-30T00:00:00")
    assert issubclass(InvalidFilter, ActionRefused)


def test_o6_naive_moments_are_read_as_utc(session: Client) -> None:
    run_id = started("bulkfilters/sleep")
    created = Run.objects.get(id=run_id).created_at
    naive = (created - timedelta(hours=1)).astimezone(UTC).replace(tzinfo=None)
    # Naive text and a naive datetime (Python caller) both work: no RuntimeWarning (warnings are errors here)
    assert bulk(session, {"function": "bf-sleeper", "since": naive.isoformat()}).json()["matched"] == 1
    assert bulk(session, {"function": "bf-sleeper", "until": naive.isoformat()}).json()["matched"] == 0
    assert operations.bulk("cancel", {"function": "bf-sleeper", "since": naive}, dry_run=True)["matched"] == 1
    later = (created + timedelta(hours=1)).astimezone(UTC).replace(tzinfo=None)
    assert operations.bulk("cancel", {"function": "bf-sleeper", "since": later}, dry_run=True)["matched"] == 0
    aware = datetime.now(UTC) - timedelta(days=1)
    assert bulk(session, {"function": "bf-sleeper", "since": aware.isoformat()}).json()["matched"] == 1


# --- audit lookups through the join -------------------------------------------------------------------------
def test_o6_a_runs_actions_are_found_behind_thousands_of_newer_ones(session: Client) -> None:
    run_id = started("bulkfilters/sleep")
    operations.cancel(run_id, actor="first-op")
    # The old lookup scanned the 2,000 latest records in Python: this one would have been out of reach.
    OperatorAction.objects.bulk_create([OperatorAction(username="noise", action="cancel", run_ids=[f"other{n}"])
                                        for n in range(2100)])
    [found] = audit.actions_for_run(run_id)
    assert (found.username, found.action) == ("first-op", "cancel")
    page = session.get(f"/audit/?run={run_id}").content.decode()  # the Audit page's run filter: the join too
    assert "first-op" in page and "noise" not in page
    assert run_id in session.get(f"/runs/{run_id}/").content.decode()


def test_o6_bulk_actions_name_every_done_run_in_the_join(session: Client) -> None:
    ids = [started("bulkfilters/sleep") for _ in range(3)]
    operations.cancel(ids[0], actor="single")  # the bulk action below no longer matches it
    response = bulk(session, {"function": "bf-sleeper"}, dry_run=False)
    assert response.json() == {"matched": 2, "done": 2}
    record = OperatorAction.objects.get(action="bulk_cancel")
    assert sorted(OperatorActionRun.objects.filter(action=record).values_list("run_id", flat=True)) \
        == sorted(ids[1:])
    assert [a.action for a in audit.actions_for_run(ids[1])] == ["bulk_cancel"]
    assert [a.action for a in audit.actions_for_run(ids[0])] == ["cancel"]  # newest first, only its own
    operations.retry(ids[0], mode="from_start", actor="again")
    assert [a.action for a in audit.actions_for_run(ids[0])] == ["retry_from_start", "cancel"]
    assert audit.actions_for_run(ids[0], limit=1)[0].action == "retry_from_start"


def test_a_refused_action_on_a_bogus_long_id_is_still_recorded(worker) -> None:
    bogus = "x" * 300
    with pytest.raises(Exception):  # noqa: B017 - RunNotFound; the point is the record below
        operations.cancel(bogus, actor="typo")
    entry = OperatorAction.objects.get(username="typo")
    assert entry.outcome == "refused" and entry.run_ids == [bogus]
    assert not OperatorActionRun.objects.filter(action=entry).exists()


# --- O2: one read-only propagation walk ----------------------------------------------------------------------
def test_o2_propagation_up_walks_from_the_root_cause_to_the_top(session: Client) -> None:
    top_id = started("bulkfilters/top")
    assert wait_for_run(top_id, timeout=20).status == "failed"
    [cause] = [run for run in Run.objects.filter(root_run_id=top_id) if run.function_id == "bf-leaf"]
    path = [run.function_id for run in queries.propagation_up(cause.id)]
    assert path == ["bf-leaf", "bf-middle", "bf-top"]
    assert queries.propagation_up("NOSUCHRUN") == []
    page = session.get(f"/runs/{top_id}/").content.decode()
    assert "bf-leaf" in page and "the leaf breaks" in page
