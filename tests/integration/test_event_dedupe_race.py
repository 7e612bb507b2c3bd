"""An event id sent twice at the same moment is stored and processed once, and neither sender gets an error."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from runs import client
from runs.models import Event, Run
from runs.sdk import App, Context
from runs.sdk.app import all_functions
from runs.store.functions import sync_functions

app = App("it-dedupe-race")


@app.function(id="counted", trigger="dedupe/race", retries=0)
async def counted(ctx: Context) -> None:
    return None


@pytest.mark.django_db(transaction=True)
def test_simultaneous_sends_of_one_event_id_store_it_once() -> None:
    sync_functions(all_functions())
    failures: list[BaseException] = []
    for round_number in range(15):
        barrier = threading.Barrier(2)

        def send(event_id: str = f"race-{round_number}", barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait()
                client.send("dedupe/race", {"n": 1}, id=event_id)
            except BaseException as exc:  # collected and asserted below
                failures.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
    assert Event.objects.filter(name="dedupe/race").count() == 15
    assert Run.objects.filter(function_id="counted").count() == 15
