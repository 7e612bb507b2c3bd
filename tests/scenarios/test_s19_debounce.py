"""S19: debounce starts a run once events of its key stop arriving for `period`, with the LAST event's data;
the runs it superseded are `skipped`, each naming the run that absorbed it; `timeout` caps the total delay;
keys are debounced separately."""

from __future__ import annotations

import threading
import time
from typing import Any

from runs import client
from runs.models import Run
from runs.sdk import App, Context, Debounce
from runs.testing import wait_for_run
from tests.helpers import run_for

app = App("s19-debounce-app")

PERIOD_S = 0.5
EXECUTED: list[tuple[str, Any, float]] = []  # (key, data seen, when)
LOCK = threading.Lock()


def _record(data: dict[str, Any]) -> Any:
    with LOCK:
        EXECUTED.append((str(data.get("k")), data.get("i"), time.monotonic()))
    return data.get("i")


@app.function(id="s19-keyed", trigger="s19/keyed", retries=0,
              debounce=Debounce(period=f"{int(PERIOD_S * 1000)}ms", key="event.data.k"))
async def keyed(ctx: Context) -> Any:
    return await ctx.step.run("record", _record, ctx.event.data)


@app.function(id="s19-capped", trigger="s19/capped", retries=0,
              debounce=Debounce(period="600ms", timeout="1s"))
async def capped(ctx: Context) -> Any:
    return await ctx.step.run("record", _record, ctx.event.data)


def _absorber(run_id: str) -> str | None:
    return Run.objects.get(id=run_id).superseded_by_run_id


def test_s19_runs_once_after_the_last_event_with_its_data(worker) -> None:  # S19
    EXECUTED.clear()
    ids = []
    for i in range(4):
        ids.append(run_for("s19/keyed", {"k": "a", "i": i}).id)
        time.sleep(0.1)  # well under the period: each event supersedes the run before
    last_sent = time.monotonic() - 0.1
    last = wait_for_run(ids[-1], timeout=10)
    assert last.status == "completed" and last.output == 3  # the last event's data
    with LOCK:
        [(key, seen, at)] = EXECUTED
    assert (key, seen) == ("a", 3)
    assert at - last_sent >= PERIOD_S - 0.05  # it waited a whole period after the last event
    for earlier in ids[:-1]:
        info = client.get_run(earlier)
        assert info.status == "skipped" and info.started_at is None and info.steps == []
        # Absorbed by the run that executed (links are repointed as later events supersede), which the
        # reason names too.
        assert _absorber(earlier) == ids[-1]
        assert ids[-1] in info.status_reason and "debounce" in info.status_reason
    time.sleep(PERIOD_S)
    with LOCK:
        assert len(EXECUTED) == 1  # no superseded run ever executes


def test_s19_keys_are_debounced_separately(worker) -> None:  # S19
    EXECUTED.clear()
    a1 = run_for("s19/keyed", {"k": "a", "i": 1}).id
    b1 = run_for("s19/keyed", {"k": "b", "i": 10}).id  # another key: does not supersede a1
    a2 = run_for("s19/keyed", {"k": "a", "i": 2}).id
    none1 = run_for("s19/keyed", {"i": 100}).id  # no key field: its own key (None)
    assert wait_for_run(a2, timeout=10).output == 2
    assert wait_for_run(b1, timeout=10).output == 10
    assert wait_for_run(none1, timeout=10).output == 100
    assert client.get_run(a1).status == "skipped" and _absorber(a1) == a2
    with LOCK:
        assert sorted((key, seen) for key, seen, _ in EXECUTED) == [("None", 100), ("a", 2), ("b", 10)]


def test_s19_timeout_caps_the_delay_while_events_keep_coming(worker) -> None:  # S19
    EXECUTED.clear()
    first_sent = time.monotonic()
    ids: list[str] = []
    stop_at = first_sent + 2.2
    while time.monotonic() < stop_at:  # an event every 150 ms, never a 600 ms pause
        ids.append(run_for("s19/capped", {"i": len(ids)}).id)
        time.sleep(0.15)
    for run_id in ids:
        wait_for_run(run_id, timeout=10)
    with LOCK:
        starts = [at for *_, at in EXECUTED]
    # Without the cap nothing would start before the events stop (2.2 s); with it, a run starts within
    # about 1 s of the first event, and again while the events keep coming.
    assert starts[0] - first_sent < 1.6, starts[0] - first_sent
    assert len(starts) >= 2
    assert sum(client.get_run(run_id).status == "completed" for run_id in ids) == len(starts)
    assert all(client.get_run(run_id).status in ("completed", "skipped") for run_id in ids)
