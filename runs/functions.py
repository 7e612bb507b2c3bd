"""Tributary's own functions, found as a project's are (the `functions.py` of an installed app): when a
TASKS backend is runs.tasks.TributaryBackend, the "django-tasks" app, so `manage.py worker` (and
`runs.testing.worker()`) claims the runs of tasks. Its functions are the tasks, imported by their module
path as runs of them come (runs/tasks/backend.py)."""

from __future__ import annotations

from django.conf import settings

BACKEND_PATH = "runs.tasks.TributaryBackend"


def uses_tributary_tasks() -> bool:
    tasks = getattr(settings, "TASKS", None) or {}
    return any(isinstance(config, dict) and config.get("BACKEND") == BACKEND_PATH for config in tasks.values())


if uses_tributary_tasks():
    import runs.tasks  # noqa: F401  (registers the app; only then: the backport is needed only with TASKS)
