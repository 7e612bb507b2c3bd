"""Settings for the test suite: the project's settings with keys made up for this test session.

The suite runs with DATABASE_URL (scaled-out mode), where settings refuse to start without keys in the
environment. The keys go into os.environ before the project's settings read it, so the `manage.py`
subprocesses that tests start (serve, worker) inherit the same ones. Keys the environment already gives win.
"""

import os
import secrets

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-" + secrets.token_urlsafe(50))
os.environ.setdefault("RUNS_EVENT_KEY", "tests-" + secrets.token_urlsafe(32))

from dashboard.settings import *  # noqa: E402,F403

# Django Tasks (runs/tasks, docs/tasks.md): the suite's @task functions run as Tributary runs; tasks of the
# "durable" backend retry a failed attempt twice.
TASKS = {
    "default": {"BACKEND": "runs.tasks.TributaryBackend"},
    "durable": {"BACKEND": "runs.tasks.TributaryBackend", "OPTIONS": {"retries": 2}},
}

# A second alias on the same database, as a read replica would be (dashboard/replica.py): mirrored, so tests that
# turn RUNS_READ_REPLICA_ALIAS on read through a second connection. Off unless a test sets that setting.
DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}  # noqa: F405
