"""An invoke hop on PostgreSQL (runs/store/hops.py, runs/store/memos.py): the parent's suspension with its child,
and the child's end with the parent's resumption, are one statement each; a parent resumed in the process that
suspended it replays from memory, without reading its steps. Counted statements, not timings.
SQLite keeps the ORM path (its single writer gains nothing), so these run on PostgreSQL only."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django.db.backends import utils

from runs import client
from runs.sdk import App, Context
from runs.store import memos
from runs.testing import wait_for_run

app = App("hop-app")
CHAIN = 12


@app.function(id="link", trigger="hop/chain", retries=0)
async def link(ctx: Context) -> int:
    n = int(ctx.event.data["n"])
    if n == 0:
        return 0
    below = await ctx.step.invoke("down", function=link, data={"n": n - 1})
    return int(below) + 1


@app.function(id="fails", retries=0)
async def fails(ctx: Context) -> None:
    raise ValueError("no luck")


@app.function(id="calls-failing", trigger="hop/fail", retries=0)
async def calls_failing(ctx: Context) -> str:
    try:
        await ctx.step.invoke("call", function=fails)
    except Exception as error:  # the child's failure, as a StepError
        return f"caught {type(error).__name__}"
    return "not reached"


@pytest.fixture(autouse=True)
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("single-statement hops are PostgreSQL's")


@pytest.fixture
def worker_statements(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Statements sent by threads other than the test's own (the worker's), by their first words."""
    seen: Counter[str] = Counter()
    lock = threading.Lock()
    original = utils.CursorWrapper.execute

    def execute(self: Any, sql: str, params: Any = None) -> Any:
        if threading.current_thread() is not threading.main_thread():
            with lock:
                seen[" ".join(sql.split()[:3])] += 1
        return original(self, sql, params)

    monkeypatch.setattr(utils.CursorWrapper, "execute", execute)
    return seen


def test_a_chain_costs_two_statements_per_hop_and_reads_no_steps(worker, worker_statements: Counter[str]) -> None:
    """S1 (each invoke resumes its parent with the child's result) and S16 (the parent replays from its memo),
    in one statement per commit."""
    event_id = client.send("hop/chain", {"n": CHAIN})
    [run] = client.runs_for_event(event_id)
    done = wait_for_run(run.id, timeout=60)
    assert done.status == "completed" and done.output == CHAIN
    suspends, ends = worker_statements["WITH parent AS"], worker_statements["WITH ended AS"]
    assert (suspends, ends) == (CHAIN, CHAIN + 1)  # every hop down, every hop up, and the root's own end
    step_reads = sum(count for words, count in worker_statements.items() if words.startswith("SELECT")
                     and "runs_step" in words)
    assert step_reads == 0, worker_statements
    # No ORM write of a run or a step is left.
    orm_writes = {words: count for words, count in worker_statements.items()
                  if words.startswith(('INSERT INTO "runs_run"', 'INSERT INTO "runs_step"', 'UPDATE "runs_step"'))}
    assert orm_writes == {}, worker_statements


def test_a_child_failure_reaches_the_parent_through_the_single_statement_end(worker) -> None:
    """S10: the child failed; the parent's invoke step fails with its error, a StepError the parent can catch."""
    event_id = client.send("hop/fail")
    [run] = client.runs_for_event(event_id)
    done = wait_for_run(run.id, timeout=60)
    assert done.status == "completed" and done.output == "caught StepError", (done.output, done.error)
    [step] = done.steps
    assert step.status == "failed" and step.error and "no luck" in step.error["message"]


def test_a_remembered_parent_is_replayed_from_memory_only_when_nothing_else_touched_it() -> None:
    from runs.ops import StepMemo
    from runs.status import StepKind, StepStatus

    waiting = StepMemo(step_id="down", kind=StepKind.INVOKE, status=StepStatus.WAITING)
    memos.suspended("r1", version=3, wakeups=0, waiting_step=waiting, steps={})
    assert memos.take("r1", version=4, wakeups=0, now=_now()) is None  # not resolved here: read the steps
    for version, wakeups in ((4, 1), (5, 0)):  # woken by something else, or changed since
        memos.suspended("r1", version=3, wakeups=0, waiting_step=waiting, steps={})
        memos.resolved("r1", "down", status=StepStatus.COMPLETED, output=7, error=None)
        assert memos.take("r1", version=version, wakeups=wakeups, now=_now()) is None
    memos.suspended("r1", version=3, wakeups=0, waiting_step=waiting, steps={})
    memos.resolved("r1", "down", status=StepStatus.COMPLETED, output=7, error=None)
    steps = memos.take("r1", version=4, wakeups=0, now=_now())
    assert steps is not None and steps["down"].status == StepStatus.COMPLETED and steps["down"].output == 7
    assert memos.take("r1", version=4, wakeups=0, now=_now()) is None  # used once


def _now():  # type: ignore[no-untyped-def]
    from django.utils import timezone

    return timezone.now()
