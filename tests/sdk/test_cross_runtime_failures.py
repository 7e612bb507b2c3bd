"""A child that fails across runtimes fails its parent once, without compounding retries (S10; SEMANTICS "no
compounding"; O2), on inngest-py, inngest@4 and inngest@3.

Both directions: a native parent (`native-invokes-sdk`, default retries) invokes an SDK app's
`probe-step-failed` (retries 1: its step fails twice); an SDK parent (`probe-invoke-native-fails`, default
retries) invokes the native `native-fails` (retries 1: its step fails twice). Each time the child fails after
its own two attempts, the parent fails exactly once (attempts 1, no body retry on top, one child), and the
dashboard names the child as the root cause.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.sdk.harness import SdkAppProcess, TributaryServer, send, wait_run
from tests.sdk.probing import dashboard_get, explain, steps_of

pytestmark = pytest.mark.parametrize("kind", ("py", "js4", "js3"))
NATIVE_APP = "native-app"


def parent_and_child(server: TributaryServer, event: str, data: dict[str, Any], function_id: str) -> tuple[Any, Any]:
    from runs.models import Run

    read = wait_run(server, send(server, event, data), function_id)
    parent = Run.objects.get(id=read["run_id"])
    [child] = Run.objects.filter(parent_run_id=parent.id)  # one child: the parent did not invoke again
    return parent, child


def assert_failed_once_because_of(parent: Any, child: Any, message: str, app: SdkAppProcess) -> None:
    assert (child.status, child.attempts, child.error["message"]) == ("failed", 2, message), explain(child, app)
    assert parent.status == "failed", explain(parent, app)
    # The parent's invoke step re-raised the child's error once: no retry of the step, nor of the body.
    assert (parent.attempts, parent.body_failures, parent.error["message"]) == (1, 0, message), (
        parent.attempts, parent.body_failures, parent.error)
    assert parent.failure_cause_run_id == child.id


def assert_dashboard_root_cause(server: TributaryServer, token: str, parent: Any, child: Any) -> None:
    graph = dashboard_get(server, token, f"/api/runs/{parent.id}/graph")
    assert (graph["root_causes"], graph["propagation"]) == ([child.id], [[child.id, parent.id]]), graph


def test_a_native_parent_fails_once_when_its_sdk_child_fails(  # S10, O2
        tributary_server: TributaryServer, app: SdkAppProcess, api_token: str) -> None:
    parent, child = parent_and_child(
        tributary_server, "native/invokes-sdk", {"app_id": app.app_id, "function_id": "probe-step-failed"},
        f"{NATIVE_APP}-native-invokes-sdk")
    assert (child.app_id, child.function_id) == (app.app_id, "probe-step-failed")
    assert_failed_once_because_of(parent, child, "always fails", app)
    assert [(s.status, s.attempts) for s in child.steps.all()] == [("failed", 2)]
    [invoke] = parent.steps.all()
    assert (invoke.kind, invoke.status, invoke.attempts, invoke.child_run_id) == ("invoke", "failed", 1, child.id)
    assert_dashboard_root_cause(tributary_server, api_token, parent, child)


def test_an_sdk_parent_fails_once_when_its_native_child_fails(  # S10, O2
        tributary_server: TributaryServer, app: SdkAppProcess, api_token: str) -> None:
    parent, child = parent_and_child(tributary_server, "probe/invoke-native-fails", {},
                                     app.function_id("probe-invoke-native-fails"))
    assert (child.app_id, child.function_id) == (NATIVE_APP, "native-fails")
    assert_failed_once_because_of(parent, child, "native broke", app)
    assert child.error["name"] == "ValueError", child.error
    assert [(s.status, s.attempts) for s in child.steps.all()] == [("failed", 2)]
    invoke = steps_of(parent)["invoke-native-fails"]
    assert (invoke.kind, invoke.status, invoke.attempts, invoke.child_run_id) == ("invoke", "failed", 1, child.id)
    assert_dashboard_root_cause(tributary_server, api_token, parent, child)
