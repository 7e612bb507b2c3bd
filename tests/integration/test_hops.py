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


@app.function(id="sees-itself", retries=0)
async def sees_itself(ctx: Context) -> bool:
    return await ctx.step.run("look", _committed_elsewhere, ctx.run_id)


@app.function(id="calls-seer", trigger="hop/seer", retries=0)
async def calls_seer(ctx: Context) -> bool:
    return bool(await ctx.step.invoke("seer", function=sees_itself))


def _committed_elsewhere(run_id: str) -> bool:
    """Whether another connection sees this run's row: its creation was committed before this step's code ran."""
    import psycopg

    settings = connection.settings_dict
    with psycopg.connect(dbname=settings["NAME"], user=settings["USER"] or None, host=settings["HOST"] or None,
                         port=settings["PORT"] or None) as other:
        return other.execute("SELECT count(*) FROM runs_run WHERE id = %s", [run_id]).fetchone()[0] == 1  # type: ignore[index]


@app.function(id="one-step", trigger="hop/one", retries=0)
async def one_step(ctx: Context) -> int:
    return await ctx.step.run("square", lambda x: x * x, int(ctx.event.data["x"]))


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
    sizes: list[tuple[int, int]] = []  # (characters, parameters) of each hop statement
    lock = threading.Lock()
    original = utils.CursorWrapper.execute

    def execute(self: Any, sql: str, params: Any = None) -> Any:
        if threading.current_thread() is not threading.main_thread():
            with lock:
                seen[" ".join(sql.split()[:3])] += 1
                if sql.startswith(("WITH parent AS", "WITH ended AS")):
                    sizes.append((len(sql), len(params or ())))
        return original(self, sql, params)

    monkeypatch.setattr(utils.CursorWrapper, "execute", execute)
    seen.sizes = sizes  # type: ignore[attr-defined]
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
    # psycopg parses a statement's placeholders once and reuses that only for statements of at most 4,096
    # characters and 50 parameters: the hop statements stay within both.
    sizes = worker_statements.sizes  # type: ignore[attr-defined]
    assert sizes and max(chars for chars, _ in sizes) <= 4096 and max(params for _, params in sizes) <= 50, sizes


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


# --- the fan-in: children ending together do not queue on their parent's row -----------------------------------


def _fan_in(children: int, *, parent_lease: str | None, parent_due_in: float | None) -> tuple[Any, list[Any]]:
    """A parent waiting (unheld, or held by `parent_lease`) on `children` invokes, each child leased and running."""
    from datetime import timedelta

    from django.utils import timezone

    from runs.domain import ClaimedRun
    from runs.ids import new_id
    from runs.models import Run, Step
    from runs.status import RunStatus, StepKind, StepStatus
    from runs.store.rows import ParentLink, new_run

    now = timezone.now()
    event = {"id": new_id(), "name": "fan/in", "data": {}, "user": {}, "ts": 0}
    parent = new_run(app_id="hop-app", function_id="fan", event=event, now=now)
    parent.status = RunStatus.WAITING if parent_lease is None else RunStatus.RUNNING
    parent.lease_owner = parent_lease
    parent.ready_at = None if parent_due_in is None else now + timedelta(seconds=parent_due_in)
    parent.save()
    claims = []
    for i in range(children):
        link = ParentLink(run_id=parent.id, step_id=f"child-{i}", root_run_id=parent.id, depth=0)
        child = new_run(app_id="hop-app", function_id="leaf", event={**event, "id": new_id()}, now=now, parent=link)
        child.status, child.lease_owner, child.started_at, child.version = RunStatus.RUNNING, f"w:{i}", now, 2
        child.save()
        Step.objects.create(run_id=parent.id, step_id=f"child-{i}", kind=StepKind.INVOKE, status=StepStatus.WAITING,
                            child_run_id=child.id, attempts=1, position=i, started_at=now)
        claims.append(ClaimedRun(id=child.id, app_id="hop-app", function_id="leaf", event=child_event(child),
                                 body_failures=0, depth=1, root_run_id=parent.id, attempts=1, wakeups=0,
                                 lease_owner=f"w:{i}", has_steps=False, version=2, parent_run_id=parent.id,
                                 parent_step_id=f"child-{i}"))
    return Run.objects.get(id=parent.id), claims


def child_event(child: Any) -> dict[str, Any]:
    return {"id": child.event_id, "name": child.event_name, "data": child.event_data, "user": child.event_user,
            "ts": child.event_ts}


def _end_child(claim: Any, output: int) -> Any:
    from datetime import timedelta

    from django.utils import timezone

    from runs.status import RunStatus, StepStatus
    from runs.store import hops
    from runs.store.rows import COALESCE_WAKEUPS

    now = timezone.now()
    ended = {"status": RunStatus.COMPLETED, "output": output, "ended_at": now, "lease_owner": None, "ready_at": None}
    step = {"status": StepStatus.COMPLETED, "output": output, "ended_at": now}
    done = hops.end_and_resume(claim, ended, [], step, now, now + COALESCE_WAKEUPS, "me:token",
                               now + timedelta(seconds=30))
    connection.close()  # (called from helper threads too)
    return done


@pytest.mark.django_db(transaction=True)
def test_children_ending_while_their_parent_is_due_leave_its_row_alone() -> None:
    """S7 (parallel invokes): a fan-in's children resolve their steps without writing the parent's row while the
    parent is due anyway and nobody holds it; the last one still takes it, with every result in its steps."""
    from runs.models import Run, Step

    parent, claims = _fan_in(3, parent_lease=None, parent_due_in=0.05)
    for i, claim in enumerate(claims[:2]):
        done = _end_child(claim, i)
        assert done.ended and done.parent_resolved and done.parent is None
    after = Run.objects.get(id=parent.id)
    assert (after.version, after.wakeups, after.ready_at) == (parent.version, parent.wakeups, parent.ready_at)
    last = _end_child(claims[2], 2)  # nothing else waits: the row is locked, and the parent taken
    assert last.parent is not None and last.parent["id"] == parent.id
    taken = Run.objects.get(id=parent.id)
    assert taken.lease_owner == "me:token" and taken.status == "running"
    assert sorted(Step.objects.filter(run_id=parent.id).values_list("output", flat=True)) == [0, 1, 2]


@pytest.mark.django_db(transaction=True)
def test_a_child_counts_a_wake_up_on_a_parent_that_is_held_or_not_due() -> None:
    """S7: a held parent is mid-pass and must replay (a counted wake-up); an unheld one that is not due is made
    due."""
    from runs.models import Run

    held, claims = _fan_in(2, parent_lease="other:lease", parent_due_in=0.05)
    _end_child(claims[0], 1)
    assert Run.objects.get(id=held.id).wakeups == held.wakeups + 1
    idle, claims = _fan_in(2, parent_lease=None, parent_due_in=None)
    _end_child(claims[0], 1)
    woken = Run.objects.get(id=idle.id)
    assert woken.wakeups == idle.wakeups + 1 and woken.ready_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_parent_leased_while_a_child_waited_for_its_share_lock_gets_the_wake_up() -> None:
    """S7, no lost wake-up: a claim that leases the parent between the child's snapshot and its share lock makes the
    child's statement fail as a whole (SHARE_LOST) and go again with the row locked: the holder must replay."""
    import psycopg

    from runs.models import Run

    parent, claims = _fan_in(2, parent_lease=None, parent_due_in=0.05)
    settings = connection.settings_dict
    claimer = psycopg.connect(dbname=settings["NAME"], user=settings["USER"] or None, host=settings["HOST"] or None,
                              port=settings["PORT"] or None)
    try:
        claimer.execute("UPDATE runs_run SET lease_owner = 'claimer:lease', status = 'running' WHERE id = %s",
                        [parent.id])  # uncommitted: the child's share lock waits for it
        result: list[Any] = []
        ending = threading.Thread(target=lambda: result.append(_end_child(claims[0], 7)))
        ending.start()
        _wait_until_blocked(claimer)
        claimer.commit()
        ending.join(30)
    finally:
        claimer.close()
    assert result and result[0].ended and result[0].parent_resolved
    after = Run.objects.get(id=parent.id)
    assert after.lease_owner == "claimer:lease" and after.wakeups == parent.wakeups + 1


def _wait_until_blocked(holder: Any) -> None:
    """Until another backend waits on a lock `holder` holds."""
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                           "AND %s = ANY(pg_blocking_pids(pid))", [holder.info.backend_pid])
            if cursor.fetchone()[0]:
                return
        time.sleep(0.01)
    raise AssertionError("the child's statement never waited on the parent's row")



# --- a hop and the pass it hands over share one commit (runs/store/handovers.py) ---------------------------------


def test_a_chain_commits_once_per_two_passes(worker, monkeypatch: pytest.MonkeyPatch) -> None:
    """S1 through shared commits: about every other hop statement runs in the transaction of the hop before it,
    which handed its run over (one commit for the two), and the chain still ends with every result."""
    from runs.store import handovers

    counts: Counter[str] = Counter()
    original_execute = utils.CursorWrapper.execute

    def execute(self: Any, sql: str, params: Any = None) -> Any:
        if threading.current_thread() is not threading.main_thread() and sql.startswith(("WITH parent AS",
                                                                                          "WITH ended AS")):
            counts["hops"] += 1
            counts["joined"] += handovers.is_open()  # committed with the hop before it
        return original_execute(self, sql, params)

    monkeypatch.setattr(utils.CursorWrapper, "execute", execute)
    event_id = client.send("hop/chain", {"n": CHAIN})
    [run] = client.runs_for_event(event_id)
    done = wait_for_run(run.id, timeout=60)
    assert done.status == "completed" and done.output == CHAIN
    assert counts["hops"] == 2 * CHAIN + 1, counts
    assert counts["joined"] >= CHAIN - 1, counts  # 25 hop statements, about 12 of them in a shared commit


def test_an_end_that_hands_nothing_over_commits_alone(worker, monkeypatch: pytest.MonkeyPatch) -> None:
    """A root's end (nothing to resume) is one autocommitted statement: no transaction is opened around it in
    case it hands a run over (that would add a BEGIN and a COMMIT to every run of a throughput workload)."""
    inside: list[bool] = []
    original_execute = utils.CursorWrapper.execute

    def execute(self: Any, sql: str, params: Any = None) -> Any:
        if threading.current_thread() is not threading.main_thread() and sql.startswith("WITH ended AS"):
            inside.append(not self.db.get_autocommit())
        return original_execute(self, sql, params)

    monkeypatch.setattr(utils.CursorWrapper, "execute", execute)
    event_ids = client.send_many([{"name": "hop/one", "data": {"x": x}} for x in range(10)])
    for event_id in event_ids:
        [run] = client.runs_for_event(event_id)
        assert wait_for_run(run.id, timeout=60).status == "completed"
    assert inside == [False] * 10


def test_a_shared_commit_is_settled_before_a_step_runs(worker) -> None:
    """S2: a handed child's step code runs only once the hop that created the child is committed (another
    connection sees the child), never on a row that a rollback could still take back."""
    event_id = client.send("hop/seer")
    [run] = client.runs_for_event(event_id)
    done = wait_for_run(run.id, timeout=60)
    assert done.status == "completed" and done.output is True, (done.output, done.error)


def test_a_handed_pass_that_fails_leaves_its_hop_written_alone(worker, monkeypatch: pytest.MonkeyPatch) -> None:
    """S2: the pass handed over fails mid-commit (a database error): the shared transaction is rolled back, the
    hop written again on its own, the pass committed again; the chain completes with one child per invoke."""
    from django.db import OperationalError

    from runs.models import Run
    from runs.store import handovers, passes

    failures: list[str] = []
    original = passes._finish_pass_once

    def flaky(claim: Any, *args: Any, **kwargs: Any) -> Any:
        if handovers.is_open() and len(failures) < 3:
            failures.append(claim.id)
            raise OperationalError("the shared commit's statement failed (injected)")
        return original(claim, *args, **kwargs)

    monkeypatch.setattr(passes, "_finish_pass_once", flaky)
    event_id = client.send("hop/chain", {"n": CHAIN})
    [run] = client.runs_for_event(event_id)
    done = wait_for_run(run.id, timeout=60)
    assert done.status == "completed" and done.output == CHAIN
    assert len(failures) == 3
    runs = Run.objects.filter(root_run_id=run.id)
    assert runs.count() == CHAIN + 1 and all(r.status == "completed" for r in runs)


@pytest.mark.django_db(transaction=True)
def test_a_hop_written_again_that_no_longer_hands_the_run_over_stops_the_pass() -> None:
    """S2: the hop's write is done again alone after a failed shared commit; if it no longer hands this thread the
    same run (cancelled or changed meanwhile), the handed pass stops with LeaseLost instead of going on."""
    from dataclasses import dataclass

    from runs.domain import ClaimedRun
    from runs.exceptions import LeaseLost
    from runs.models import Function
    from runs.store import handovers

    @dataclass(frozen=True)
    class Handed:
        next_run: ClaimedRun | None

    def claim(token: str) -> ClaimedRun:
        return ClaimedRun(id="r1", app_id="a", function_id="f", event={}, body_failures=0, depth=0,
                          root_run_id="r1", attempts=1, wakeups=0, lease_owner=token, has_steps=False)

    writes: list[str] = []
    changing = False  # each write hands over a claim of its own (the run changed between them)

    def write() -> Handed:
        writes.append("w")
        Function.objects.create(app_id="hop-test", function_id=f"f{len(writes)}", trigger="", config={})
        return Handed(claim(f"token-{len(writes)}" if changing else "same"))

    assert handovers.run(write, share=True) == Handed(claim("same")) and handovers.is_open()
    handovers.abandon()  # rolled back, written again alone: same hand-over, committed
    assert not handovers.is_open() and writes == ["w", "w"]
    assert list(Function.objects.filter(app_id="hop-test").values_list("function_id", flat=True)) == ["f2"]
    changing = True
    handovers.run(write, share=True)
    with pytest.raises(LeaseLost):  # done again, the write hands over another claim: not the pass's run
        handovers.abandon()
    assert not handovers.is_open()
