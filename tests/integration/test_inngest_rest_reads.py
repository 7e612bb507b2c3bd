"""Inngest's REST v1 reads (runs/inngest_api.py): `GET /v1/runs/<id>` and `GET /v1/events/<id>/runs` in signed
mode take the SDKs' bearer of the main or the fallback signing key, bare or `signkey-<env>-` prefixed
(protocol document section 10), refuse any other with a 401 JSON; and they give each status in Inngest's words,
a cancelled run and a skipped one (never started) both `Cancelled`."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from runs import client as runs_client
from runs.inngest import signing
from runs.sdk import App, Context, RateLimit
from runs.status import RunStatus
from runs.store.functions import sync_functions

KEY = "signkey-test-" + "ab12" * 16
FALLBACK = "signkey-test-" + "cd34" * 16
OTHER = "signkey-test-" + "ef56" * 16

app = App("inngest-rest-reads")


@app.function(id="once-an-hour", trigger="rest/go", retries=0, rate_limit=RateLimit(limit=1, period="1h"))
async def once_an_hour(ctx: Context) -> None:
    return None


@pytest.fixture(autouse=True)
def signed(monkeypatch: pytest.MonkeyPatch, settings: Any, db: None) -> None:
    for name in ("RUNS_INNGEST_DEV", "RUNS_INNGEST_SIGNING_KEY", "RUNS_INNGEST_SIGNING_KEY_FALLBACK"):
        monkeypatch.delenv(name, raising=False)
    settings.RUNS_INNGEST_DEV = False
    settings.RUNS_INNGEST_SIGNING_KEY = KEY
    settings.RUNS_INNGEST_SIGNING_KEY_FALLBACK = FALLBACK
    sync_functions(app.functions.values())


def reads(client: Client, event_id: str, run_id: str, auth: str | None) -> tuple[Any, Any]:
    headers = {"Authorization": auth} if auth is not None else {}
    return (client.get(f"/v1/runs/{run_id}", headers=headers),
            client.get(f"/v1/events/{event_id}/runs", headers=headers))


@pytest.mark.parametrize("key", [KEY, FALLBACK])
@pytest.mark.parametrize("prefixed", [False, True], ids=["bare (inngest-py)", "prefixed (inngest-js)"])
def test_either_key_reads_in_either_form(client: Client, key: str, prefixed: bool) -> None:
    event_id = runs_client.send("rest/go")
    [run] = runs_client.runs_for_event(event_id)
    digest = signing.bearer_digest(key)
    one, listed = reads(client, event_id, run.id, f"Bearer {'signkey-test-' if prefixed else ''}{digest}")
    assert one.status_code == 200 and one.json()["data"]["run_id"] == run.id
    assert listed.status_code == 200 and [row["run_id"] for row in listed.json()["data"]] == [run.id]


@pytest.mark.parametrize("auth", [
    None, "Bearer undefined", "Bearer ", f"Bearer {signing.bearer_digest(OTHER)}",
    f"Bearer signkey-test-{signing.bearer_digest(OTHER)}", f"Bearer {signing.bearer_digest(FALLBACK)[:-1]}0",
    f"Basic {signing.bearer_digest(KEY)}", f"Bearer {KEY}",  # the key itself is not its bearer
])
def test_any_other_bearer_is_a_401_json(client: Client, auth: str | None) -> None:
    event_id = runs_client.send("rest/go")
    [run] = runs_client.runs_for_event(event_id)
    for response in reads(client, event_id, run.id, auth):
        assert response.status_code == 401, auth
        assert response["Content-Type"] == "application/json" and response["WWW-Authenticate"] == "Bearer"
        body = response.json()
        assert body["status"] == 401 and "signing key bearer" in body["error"]
        assert "data" not in body


def test_a_cancelled_run_and_a_skipped_one_read_as_cancelled(client: Client) -> None:
    auth = {"Authorization": f"Bearer {signing.bearer_digest(KEY)}"}
    first, second = runs_client.send("rest/go"), runs_client.send("rest/go")  # the second is rate limited
    [cancelled] = runs_client.runs_for_event(first)
    runs_client.cancel_run(cancelled.id)
    [skipped] = runs_client.runs_for_event(second)
    assert (runs_client.get_run(cancelled.id).status, skipped.status) == (RunStatus.CANCELLED, RunStatus.SKIPPED)
    for event_id, run_id in ((first, cancelled.id), (second, skipped.id)):
        data = client.get(f"/v1/runs/{run_id}", headers=auth).json()["data"]
        assert (data["status"], data["output"]) == ("Cancelled", None)
        assert data["ended_at"] and data["ended_at"].endswith("Z")
        [row] = client.get(f"/v1/events/{event_id}/runs", headers=auth).json()["data"]
        assert row["status"] == "Cancelled"
