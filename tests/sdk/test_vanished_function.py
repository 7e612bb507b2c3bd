"""A function that vanished from its SDK app (docs/inngest.md: a re-sync without it "fails its new runs with
function not found and keeps its finished runs readable"), on inngest-py, inngest@4 and inngest@3.

The app is synced, one run of `probe-wait` finishes and another waits for its event; then the same app, started
with `OMIT_FUNCTIONS=probe-wait` (tests/sdk_apps/README.md), is synced again. The waiting run fails "function
not found" when its event resumes it, a new trigger event starts no run (nothing registered is triggered by it
any more), and the finished run stays readable through Inngest's REST API, the dashboard's JSON API and the run
page.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.sdk.harness import (
    SdkAppProcess,
    TributaryServer,
    event_runs,
    get_run,
    http,
    send,
    sync,
    wait_registered,
)
from tests.sdk.probing import ENDED, dashboard_get, explain, run_of, wait_status, wait_step

pytestmark = pytest.mark.parametrize("kind", ("py", "js4", "js3"))


def waiting_run(server: TributaryServer, app: SdkAppProcess, wait_id: str) -> str:
    """A probe-wait run of `wait_id` once its waitForEvent step waits."""
    run = run_of(server, app, "probe/wait", "probe-wait", {"id": wait_id}, statuses=("Running",))
    wait_step(run, "wait-ok")
    return str(wait_status(run.id, ("waiting",)).id)


def test_a_vanished_function_fails_its_waiting_run_starts_no_new_one_and_keeps_finished_runs_readable(
        tributary_server: TributaryServer, app: SdkAppProcess, sdk_app: Callable[..., SdkAppProcess],
        api_token: str) -> None:
    from django.test import Client

    from runs.models import Function
    from tests.helpers import operator

    finished_id = waiting_run(tributary_server, app, "v-done")
    send(tributary_server, "probe/continue", {"id": "v-done"})
    finished = wait_status(finished_id, ENDED)
    assert (finished.status, finished.output) == ("completed", {"id": "v-done"}), explain(finished, app)
    stranded_id = waiting_run(tributary_server, app, "v-stranded")

    slim = sdk_app(app.kind, env={"OMIT_FUNCTIONS": "probe-wait"})
    sync(slim)
    wait_registered(slim)
    assert not Function.objects.filter(app_id=app.app_id, function_id="probe-wait").exists()
    assert Function.objects.filter(app_id=app.app_id, function_id="probe-step-run").exists()  # the rest stays

    # The waiting run resumes on its event and finds no function to call.
    send(tributary_server, "probe/continue", {"id": "v-stranded"})
    stranded = wait_status(stranded_id, ENDED)
    assert stranded.status == "failed", explain(stranded, slim)
    assert stranded.error["name"] == "FunctionNotFoundError", stranded.error
    assert "'probe-wait'" in stranded.error["message"] and "not found" in stranded.error["message"], stranded.error

    # A new trigger event: intake stores the event and the runs it starts in one request, so none is coming.
    assert event_runs(tributary_server, send(tributary_server, "probe/wait", {"id": "v-new"})) == []

    # The finished run, through Inngest's REST API, the dashboard's JSON API and the run page.
    assert {key: get_run(tributary_server, finished_id)[key] for key in ("function_id", "status", "output")} == {
        "function_id": app.function_id("probe-wait"), "status": "Completed", "output": {"id": "v-done"}}
    read = dashboard_get(tributary_server, api_token, f"/api/runs/{finished_id}")
    assert (read["id"], read["function_id"], read["status"], read["output"]) == (
        finished_id, "probe-wait", "completed", {"id": "v-done"}), read
    assert [step["status"] for step in read["steps"]] == ["completed"], read["steps"]
    browser = Client()
    browser.force_login(operator("vanished-viewer"))
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    page = http("GET", f"{tributary_server.url}/runs/{finished_id}/", headers={"Cookie": cookie})
    assert page.status == 200 and finished_id.encode() in page.body, (page.status, page.body[:300])
