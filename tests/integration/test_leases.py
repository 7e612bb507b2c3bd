"""The heartbeat keeps leases alive without ever waiting on a row lock (no lock cycle can stop renewals)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from runs.ids import new_id
from runs.models import Run
from runs.store.claims import renew_leases
from runs.store.rows import new_run
from tests.integration.processes import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def _leased_run(token: str) -> Run:
    now = timezone.now()
    event = {"id": new_id(), "name": "lease/test", "data": {}, "user": {}, "ts": 0}
    run = new_run(app_id="lease-app", function_id="f", event=event, now=now)
    run.status, run.lease_owner, run.ready_at = "running", token, now + timedelta(seconds=1)
    run.save()
    return run


def test_renewing_leases_skips_a_row_another_transaction_holds_and_renews_the_rest() -> None:
    held, free = _leased_run("w:held"), _leased_run("w:free")
    locked, release = threading.Event(), threading.Event()

    def hold_row_lock() -> None:
        params = connection.settings_dict
        conninfo = {"dbname": params["NAME"], "user": params.get("USER") or None,
                    "host": params.get("HOST") or None, "port": params.get("PORT") or None}
        with psycopg.connect(**{k: v for k, v in conninfo.items() if v}) as other:
            other.execute("SELECT id FROM runs_run WHERE id = %s FOR UPDATE", [held.id])
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold_row_lock)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        renew_leases(["w:held", "w:free"])  # waiting on the held row would block here until release
        assert time.monotonic() - started < 5
    finally:
        release.set()
        holder.join(10)
    renewed = {run.id: run.ready_at for run in Run.objects.filter(id__in=[held.id, free.id])}
    assert renewed[free.id] > free.ready_at + timedelta(seconds=5)  # pushed to the lease's end (30 s)
    assert renewed[held.id] == held.ready_at  # skipped this beat, renewed at the next
