"""Flow control applies to SDK runs as the app registered it (S17, S18; runs/inngest/config.py maps the SDK's
`concurrency` and `rateLimit` onto the engine's rules), on inngest-py, inngest@4 and inngest@3.

`probe-concurrency` (limit 1 per `event.data.key`) has one step that holds its slot for 0.4 s and returns the
instants it started and ended, taken in the app: runs of one key never overlap, while a run of another key
overlaps them. An invoked child is a run of its own function with its own limit (S1): two children of one key
invoked at once by `probe-invoke-concurrency` run one after the other.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.helpers import max_overlap
from tests.sdk.harness import SdkAppProcess, TributaryServer, send
from tests.sdk.probing import ENDED, explain, first_run, run_of, wait_status

pytestmark = pytest.mark.parametrize("kind", ("py", "js4", "js3"))
SAME_KEY_RUNS = 3


def span(run: Any) -> tuple[float, float]:
    return float(run.output["start"]), float(run.output["end"])


def overlaps(one: tuple[float, float], other: tuple[float, float]) -> bool:
    return one[0] < other[1] and other[0] < one[1]


def test_runs_of_one_key_never_execute_at_once_while_another_key_runs_beside_them(  # S17
        tributary_server: TributaryServer, app: SdkAppProcess) -> None:
    limited, free = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    events = [send(tributary_server, "probe/concurrency", {"key": limited}) for _ in range(SAME_KEY_RUNS)]
    events.append(send(tributary_server, "probe/concurrency", {"key": free}))
    runs = [wait_status(first_run(f"the run of event {event}", event_id=event).id, ENDED) for event in events]
    for run in runs:
        assert run.status == "completed", explain(run, app)
    same_key = [span(run) for run in runs[:-1]]
    other_key = span(runs[-1])
    # Each step holds its slot 0.4 s: unlimited, the three runs of one key would all overlap.
    assert max_overlap(same_key) == 1, sorted(same_key)
    assert any(overlaps(other_key, one) for one in same_key), (other_key, sorted(same_key))
    # The registered limit is the run's: the engine, not luck, kept them apart.
    assert (runs[0].concurrency_limit, runs[0].concurrency_key is not None) == (1, True), runs[0].concurrency_key


def test_an_invoked_child_is_held_by_its_own_concurrency_limit(  # S1, S17
        tributary_server: TributaryServer, app: SdkAppProcess) -> None:
    from runs.models import Run

    key = f"c-{uuid.uuid4().hex[:8]}"
    parent = run_of(tributary_server, app, "probe/invoke-concurrency", "probe-invoke-concurrency", {"key": key})
    assert parent.status == "completed", explain(parent, app)
    children = list(Run.objects.filter(parent_run_id=parent.id))
    assert [(child.function_id, child.status) for child in children] == [("probe-concurrency", "completed")] * 2
    # Both were invoked in one answer of the parent; their spans show the second waited for the first's slot.
    spans = [(float(out["start"]), float(out["end"])) for out in parent.output]
    assert [out["key"] for out in parent.output] == [key, key], parent.output
    assert max_overlap(spans) == 1, spans


def test_rate_limit_skips_the_runs_beyond_it_for_one_key_only(  # S18
        tributary_server: TributaryServer, app: SdkAppProcess) -> None:
    from runs.models import Run

    limited, other = f"r-{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:8]}"
    events = [send(tributary_server, "probe/rate-limit", {"key": limited}) for _ in range(3)]
    events.append(send(tributary_server, "probe/rate-limit", {"key": other}))
    runs = [wait_status(first_run(f"the run of event {event}", event_id=event).id, ENDED) for event in events]
    # Limit 1 per minute per key: the first event of each key runs, the others are recorded as skipped.
    assert [(run.status, run.output) for run in runs] == [
        ("completed", limited), ("skipped", None), ("skipped", None), ("completed", other)], [
        (run.status, run.status_reason) for run in runs]
    assert all("rate limited" in run.status_reason for run in runs[1:3]), [run.status_reason for run in runs]
    assert Run.objects.filter(function_id="probe-rate-limit").count() == 4
