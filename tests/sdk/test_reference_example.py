"""Issue 10, "Must show": the reference document's example (step-invoke.md) runs unmodified on the official SDKs
against Tributary: verbatim on npm inngest@3, in the 4.x form on npm inngest@4, and as an inngest-py Django app.
Each app syncs (a PUT; the SDK registers itself with Tributary), `main/event` starts main-function, which invokes
compute-square and completes with "Square of 4 is 16."; the child run hangs under the parent as one graph, and
the parent's invoke step carries the SDK's hashed step id with its readable name. In dev and in signed mode.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.sdk.harness import (
    KINDS,
    MODES,
    SdkAppProcess,
    TributaryServer,
    get_run,
    send,
    sync,
    sync_in_band,
    wait_registered,
    wait_run,
)
from tests.sdk.test_apps_answer import triggers_of

COMPUTE_SQUARE_VALUE = "30b458a6577e47eeb2eaae50cb3fc6b8f1351f19"  # sha1("compute-square-value"), both SDKs


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)  # varies slowest: each mode's server starts once
def test_main_event_completes_with_the_square_and_the_child_hangs_under_the_parent(
        tributary_server: TributaryServer, sdk_app: Callable[..., SdkAppProcess], kind: str, mode: str) -> None:
    from runs.models import Run, Step

    app = sdk_app(kind)
    sync(app)
    wait_registered(app)

    event_id = send(tributary_server, "main/event")
    main = wait_run(tributary_server, event_id, app.function_id("main-function"))
    assert (main["status"], main["output"]) == ("Completed", "Square of 4 is 16."), (main, app.log()[-3000:])

    parent = Run.objects.get(id=main["run_id"])
    child = Run.objects.get(parent_run_id=parent.id)
    assert (child.app_id, child.function_id, child.status, child.output) == (
        app.app_id, "compute-square", "completed", {"result": 16})
    assert (parent.app_id, parent.function_id, parent.root_run_id, child.root_run_id) == (
        app.app_id, "main-function", parent.id, parent.id)
    invoke = Step.objects.get(run_id=parent.id, step_id=COMPUTE_SQUARE_VALUE)
    assert (invoke.display_name, invoke.child_run_id) == ("compute-square-value", child.id)

    child_read = get_run(tributary_server, child.id)
    assert (child_read["function_id"], child_read["status"], child_read["output"]) == (
        app.function_id("compute-square"), "Completed", {"result": 16})


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", ["signed"])
def test_in_signed_mode_tributary_syncs_the_app_in_band_and_main_event_completes(
        tributary_server: TributaryServer, sdk_app: Callable[..., SdkAppProcess], kind: str, mode: str) -> None:
    """Tributary pulls the registration itself ("Sync now", "add app by URL"): a signed in-band PUT whose
    signed answer carries the functions; no callback from the app."""
    app = sdk_app(kind)
    result = sync_in_band(app, tributary_server)
    assert (result.ok, result.kind, result.app_id, result.functions) == (
        True, "in_band", app.app_id, len(triggers_of(kind))), result
    wait_registered(app)

    main = wait_run(tributary_server, send(tributary_server, "main/event"), app.function_id("main-function"))
    assert (main["status"], main["output"]) == ("Completed", "Square of 4 is 16."), main
