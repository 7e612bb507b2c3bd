"""A confirm dialog's preview and the action it confirms choose their runs in the same function
(runs/store/actions.py: cancel_targets, retry_plan, matching_runs), so on the same state the runs a preview names
are exactly the runs the action then changes (O3-O5). The states are made by a real worker, which is then
stopped, so the only writes after the preview are the action's own."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dashboard import queries
from runs import client, operations, testing
from runs.models import Run
from runs.sdk import App, Context
from runs.status import RunStatus
from runs.store import actions
from tests.helpers import wait_until

app = App("it-preview-apply")


@app.function(id="pa-sleeper", retries=0)
async def sleeper(ctx: Context) -> None:
    await ctx.step.sleep("nap", "1h")


@app.function(id="pa-parent", trigger="preview-apply/tree", retries=0)
async def parent(ctx: Context) -> None:
    await ctx.step.invoke("child", function=sleeper)


@app.function(id="pa-broken", retries=0)
async def broken(ctx: Context) -> None:
    await ctx.step.run("explode", lambda: 1 / 0)


@app.function(id="pa-middle", retries=0)
async def middle(ctx: Context) -> None:
    await ctx.step.invoke("call-broken", function=broken)


@app.function(id="pa-top", trigger="preview-apply/chain", retries=0)
async def top(ctx: Context) -> None:
    await ctx.step.invoke("call-middle", function=middle)


State = dict[str, tuple[str, int]]


def snapshot() -> State:
    return {run.id: (run.status, run.version) for run in Run.objects.all()}


def changed(before: State) -> set[str]:
    """Runs the action wrote (status or version), and runs it created."""
    return {run_id for run_id, seen in snapshot().items() if before.get(run_id) != seen}


def make_states() -> dict[str, str]:
    """Two waiting trees (parent and child each) and two failed chains top -> middle -> leaf, one of them with
    its middle run retried since (queued again, no worker to run it)."""
    with testing.worker():
        trees = [client.runs_for_event(client.send("preview-apply/tree"))[0].id for _ in range(2)]
        chains = [client.runs_for_event(client.send("preview-apply/chain"))[0].id for _ in range(2)]
        wait_until(lambda: Run.objects.filter(status=RunStatus.WAITING).count(), lambda n: n == 4,
                   what="two trees of two waiting runs")
        for top_id in chains:
            testing.wait_for_run(top_id)
        wait_until(lambda: Run.objects.filter(status=RunStatus.FAILED).count(), lambda n: n == 6,
                   what="two failed chains of three")
    retried_top = chains[1]
    retried_middle = Run.objects.get(id=retried_top).failure_cause_run_id
    assert retried_middle is not None
    actions.retry_run(retried_middle, mode="from_failure")
    top_id = chains[0]
    middle_id = Run.objects.get(id=top_id).failure_cause_run_id
    assert middle_id is not None
    leaf_id = Run.objects.get(id=middle_id).failure_cause_run_id
    assert leaf_id is not None
    return {"tree": trees[0], "top": top_id, "middle": middle_id, "leaf": leaf_id, "retried_top": retried_top}


def single(preview: Callable[[str], list[str]], apply: Callable[[str], object], target: str) -> Callable[..., None]:
    def check(states: dict[str, str]) -> None:
        before = snapshot()
        previewed = preview(states[target])
        assert snapshot() == before, "a preview writes nothing"
        apply(states[target])
        assert changed(before) == set(previewed)
    return check


def cancel_preview(cascade: bool) -> Callable[[str], list[str]]:
    return lambda run_id: actions.cancel_preview(run_id, cascade=cascade)


def retry_preview(mode: str) -> Callable[[str], list[str]]:
    return lambda run_id: [run.id for run in actions.retry_preview(run_id, mode=mode)[1]]


def test_cancel_ends_exactly_the_runs_its_preview_counted(transactional_db) -> None:  # type: ignore[no-untyped-def]
    states = make_states()
    single(cancel_preview(False), lambda run_id: operations.cancel(run_id), "tree")(states)


def test_cascading_cancel_ends_exactly_the_subtree_its_preview_counted(  # type: ignore[no-untyped-def]
        transactional_db) -> None:
    states = make_states()
    before = snapshot()
    previewed = actions.cancel_preview(states["tree"], cascade=True)
    assert len(previewed) == 2
    cancelled = operations.cancel(states["tree"], cascade=True)
    assert set(cancelled) == set(previewed) == changed(before)  # leaves are cancelled first


@pytest.mark.parametrize("given", ["top", "middle", "leaf", "retried_top"])
def test_root_cause_retry_heals_exactly_the_chain_its_preview_named(  # type: ignore[no-untyped-def]
        transactional_db, given: str) -> None:
    states = make_states()
    before = snapshot()
    executes, chain = actions.retry_preview(states[given], mode="root_cause")
    # The runs list and the run page name the same root cause: the walk is one (runs/causes.py).
    shown = queries.root_causes_of([Run.objects.get(id=states[given])])[states[given]]
    assert shown.run_id == executes.id
    assert [run.id for run in queries.propagation_up(shown.run_id)] == [run.id for run in chain]
    executing = operations.retry(states[given], mode="root_cause")
    assert executing == executes.id
    assert changed(before) == {run.id for run in chain}
    if given == "retried_top":  # its middle run is queued again: the top is its own root cause now
        assert [run.id for run in chain] == [states["retried_top"]]
    else:
        assert [run.id for run in chain] == [states["leaf"], states["middle"], states["top"]]


@pytest.mark.parametrize("given", ["top", "middle"])
def test_retry_from_failure_reopens_exactly_the_run_its_preview_named(  # type: ignore[no-untyped-def]
        transactional_db, given: str) -> None:
    states = make_states()
    single(retry_preview("from_failure"), lambda run_id: operations.retry(run_id, mode="from_failure"),
           given)(states)


def test_rerun_from_start_reruns_the_run_its_preview_named(transactional_db) -> None:  # type: ignore[no-untyped-def]
    states = make_states()
    before = snapshot()
    executes, chain = actions.retry_preview(states["top"], mode="from_start")
    new_id = operations.retry(states["top"], mode="from_start")
    assert changed(before) == {new_id}  # the original stays as it is
    assert Run.objects.get(id=new_id).rerun_of_run_id == executes.id == states["top"]
    assert [run.id for run in chain] == [states["top"]]


@pytest.mark.parametrize(("action", "filters"), [("cancel", {"app": "it-preview-apply"}),
                                                 ("retry", {"function": "pa-top"}),
                                                 ("retry", {"app": "it-preview-apply"})])
def test_bulk_acts_on_exactly_the_runs_its_preview_matched(  # type: ignore[no-untyped-def]
        transactional_db, action: str, filters: dict[str, str]) -> None:
    make_states()
    before = snapshot()
    preview = operations.bulk(action, filters, dry_run=True)
    assert snapshot() == before
    done = operations.bulk(action, filters)
    assert done == {"matched": preview["matched"], "done": preview["matched"]}
    assert len(changed(before)) == preview["matched"] > 0


def test_a_preview_refuses_exactly_as_the_action_does(transactional_db) -> None:  # type: ignore[no-untyped-def]
    states = make_states()
    refusals = [(lambda: actions.cancel_preview(states["top"]), lambda: operations.cancel(states["top"])),
                (lambda: actions.retry_preview(states["tree"], mode="root_cause"),
                 lambda: operations.retry(states["tree"], mode="root_cause")),
                (lambda: actions.retry_preview(states["tree"], mode="from_start"),
                 lambda: operations.retry(states["tree"], mode="from_start")),
                (lambda: actions.retry_preview(states["top"], mode="sideways"),
                 lambda: operations.retry(states["top"], mode="sideways"))]
    for preview, apply in refusals:
        with pytest.raises(actions.ActionRefused) as previewed:
            preview()
        with pytest.raises(actions.ActionRefused) as applied:
            apply()
        assert str(previewed.value) == str(applied.value)
