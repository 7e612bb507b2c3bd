"""Functions and helpers for the data retention tests (runs/store/prune.py): trees made by the real engine,
then aged by moving their times back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from runs import client
from runs.models import Event, Run, Step
from runs.sdk import App, Context
from runs.status import TERMINAL_RUN_STATUSES
from tests.helpers import wait_until

app = App("it-prune")

OLD = timedelta(days=40)  # older than the 30 days the tests prune at


@app.function(id="prune-leaf", trigger="prune/leaf", retries=0)
async def leaf(ctx: Context) -> int:
    return await ctx.step.run("square", lambda: 4)


@app.function(id="prune-root", trigger="prune/tree", retries=0)
async def root(ctx: Context) -> int:
    value = await ctx.step.invoke("call-leaf", function=leaf)
    await ctx.step.send_event("tell", {"name": "prune/told", "data": {"value": value}})  # nobody listens
    return value


@app.function(id="prune-broken", trigger="prune/broken", retries=0)
async def broken(ctx: Context) -> None:
    await ctx.step.run("explode", lambda: 1 / 0)


@app.function(id="prune-broken-parent", trigger="prune/broken-tree", retries=0)
async def broken_parent(ctx: Context) -> None:
    await ctx.step.invoke("call-broken", function=broken)


@app.function(id="prune-waiter", retries=0)
async def waiter(ctx: Context) -> Any:
    return await ctx.step.wait_for_event("go", event="prune/go", timeout="1h")


@app.function(id="prune-impatient", trigger="prune/impatient", retries=0)
async def impatient(ctx: Context) -> Any:
    return await ctx.step.invoke("call-waiter", function=waiter, timeout=100)  # fails; the child waits on


@app.function(id="prune-waiting-root", trigger="prune/waiting-root", retries=0)
async def waiting_root(ctx: Context) -> Any:
    return await ctx.step.wait_for_event("go", event="prune/go", timeout="1h")


@app.function(id="prune-sender", trigger="prune/send", retries=0)
async def sender(ctx: Context) -> None:
    await ctx.step.send_event("tell", {"name": "prune/listen"})


@app.function(id="prune-listener", trigger="prune/listen", retries=0)
async def listener(ctx: Context) -> Any:
    return await ctx.step.wait_for_event("go", event="prune/go", timeout="1h")


def tree_ids(root_id: str) -> set[str]:
    return set(Run.objects.filter(root_run_id=root_id).values_list("id", flat=True))


def settled_tree(event_name: str, runs: int = 1) -> str:
    """Send an event and wait until the tree of the one root it started has `runs` runs and its root ended."""
    [started] = client.runs_for_event(client.send(event_name))
    wait_until(lambda: list(Run.objects.filter(root_run_id=started.id).values_list("status", flat=True)),
               lambda statuses: len(statuses) == runs and Run.objects.get(id=started.id).status
               in TERMINAL_RUN_STATUSES, what=f"the tree of {started.id} settled")
    return started.id


def finished_tree(event_name: str, runs: int = 1) -> str:
    """Like settled_tree, and every run of the tree ended."""
    root_id = settled_tree(event_name, runs)
    wait_until(lambda: set(Run.objects.filter(root_run_id=root_id).values_list("status", flat=True)),
               lambda statuses: statuses <= TERMINAL_RUN_STATUSES, what=f"every run of {root_id} ended")
    return root_id


def age_tree(root_id: str, by: timedelta = OLD) -> None:
    """Move a tree's times (and its events') back by `by`, as if it ran that long ago."""
    now = timezone.now()
    runs = Run.objects.filter(root_run_id=root_id)
    ended = runs.filter(ended_at__isnull=False)
    ended.update(ended_at=now - by)
    runs.update(created_at=now - by - timedelta(seconds=1), started_at=now - by - timedelta(seconds=1))
    ids = list(runs.values_list("id", flat=True))
    Event.objects.filter(Q(id__in=runs.values("event_id")) | Q(sent_by_run_id__in=ids)).update(
        received_at=now - by - timedelta(seconds=1))


def rows_of(root_id: str) -> dict[str, set[Any]]:
    """The ids of a tree's runs, steps and events (its own and the ones it sent), to look for after a prune."""
    ids = set(Run.objects.filter(root_run_id=root_id).values_list("id", flat=True))
    event_ids = Run.objects.filter(root_run_id=root_id).values("event_id")
    return {"runs": ids, "steps": set(Step.objects.filter(run_id__in=ids).values_list("id", flat=True)),
            "events": set(Event.objects.filter(Q(id__in=event_ids) | Q(sent_by_run_id__in=ids))
                          .values_list("id", flat=True))}


def still_there(rows: dict[str, set[Any]]) -> dict[str, int]:
    """How many of those rows the database still has."""
    return {"runs": Run.objects.filter(id__in=rows["runs"]).count(),
            "steps": Step.objects.filter(id__in=rows["steps"]).count(),
            "events": Event.objects.filter(id__in=rows["events"]).count()}


def counts(rows: dict[str, set[Any]]) -> dict[str, int]:
    return {key: len(ids) for key, ids in rows.items()}
