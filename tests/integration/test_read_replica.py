"""RUNS_READ_REPLICA_ALIAS: the dashboard's GET requests read through the replica alias (here a second connection
mirrored onto the test database), while actions, reads inside transactions and everything without the setting
stay on the default database."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission, User
from django.core.checks import run_checks
from django.db import connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dashboard.replica import ReadReplicaRouter, replica_reads
from runs.models import Run
from runs.status import RunStatus
from tests.benchmarks.trees import run_row

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


@pytest.fixture
def operator_client() -> Client:
    user = User.objects.create_user("replica-op", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="operate_run"))
    http = Client()
    http.force_login(user)
    return http


def _runs_queries(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "runs_run" in q["sql"]]


def test_dashboard_reads_go_to_the_replica_and_actions_to_the_default(settings, operator_client: Client) -> None:
    settings.RUNS_READ_REPLICA_ALIAS = "replica"
    run_row("replica-run-1", status=RunStatus.WAITING, ended_at=None).save()
    with CaptureQueriesContext(connections["replica"]) as replica, \
            CaptureQueriesContext(connections["default"]) as default:
        response = operator_client.get("/api/runs")
    assert response.status_code == 200
    assert "replica-run-1" in response.content.decode()
    assert _runs_queries(replica), "the runs list was not read on the replica"
    assert not _runs_queries(default)

    with CaptureQueriesContext(connections["replica"]) as replica:
        cancelled = operator_client.post("/api/runs/replica-run-1/cancel", data=json.dumps({}),
                                         content_type="application/json")
    assert cancelled.status_code == 200, cancelled.content
    assert replica.captured_queries == []  # the action, its reads included, ran on the default
    assert Run.objects.get(id="replica-run-1").status == RunStatus.CANCELLED


def test_reads_inside_a_transaction_stay_on_the_default(settings) -> None:
    settings.RUNS_READ_REPLICA_ALIAS = "replica"
    router = ReadReplicaRouter()
    with replica_reads():
        assert router.db_for_read(Run) == "replica"
        with transaction.atomic():
            assert router.db_for_read(Run) is None  # the default: a transaction reads what it locks and writes
    assert router.db_for_read(Run) is None  # outside replica_reads: not marked read-only
    assert router.db_for_write(Run) is None
    assert router.allow_migrate("replica", "runs") is False and router.allow_migrate("default", "runs") is None


def test_without_the_setting_every_query_is_on_the_default(operator_client: Client) -> None:
    run_row("replica-run-2").save()
    with CaptureQueriesContext(connections["replica"]) as replica:
        assert operator_client.get("/api/runs").status_code == 200
    assert replica.captured_queries == []


def test_an_alias_missing_from_databases_fails_the_checks(settings) -> None:
    settings.RUNS_READ_REPLICA_ALIAS = "nowhere"
    assert "dashboard.E020" in [message.id for message in run_checks()]
