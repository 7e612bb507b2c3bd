"""The Django Tasks framework: `django.tasks` from Django 6 on, else the `django-tasks` backport (the same API
under `django_tasks`, a dependency where Django 6 cannot be installed). Everything runs/tasks uses of it is
imported here, so the two spellings stay in this one module."""

from __future__ import annotations

try:
    from django.tasks import DEFAULT_TASK_QUEUE_NAME, Task, TaskContext, TaskResult, TaskResultStatus
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import DEFAULT_TASK_PRIORITY, TASK_MAX_PRIORITY, TASK_MIN_PRIORITY, TaskError
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # Django 5.2
    try:
        from django_tasks import (  # type: ignore[assignment,no-redef,unused-ignore]
            DEFAULT_TASK_QUEUE_NAME,
            TaskContext,
            TaskResult,
            TaskResultStatus,
        )
        from django_tasks.backends.base import BaseTaskBackend  # type: ignore[assignment,no-redef,unused-ignore]
        from django_tasks.base import (  # type: ignore[assignment,no-redef,unused-ignore]
            DEFAULT_TASK_PRIORITY,
            TASK_MAX_PRIORITY,
            TASK_MIN_PRIORITY,
            Task,
            TaskError,
        )
        from django_tasks.exceptions import (  # type: ignore[assignment,no-redef,unused-ignore]
            InvalidTaskError as InvalidTask,
        )
        from django_tasks.exceptions import (  # type: ignore[assignment,no-redef,unused-ignore]
            TaskResultDoesNotExist,
        )
        from django_tasks.signals import (  # type: ignore[assignment,no-redef,unused-ignore]
            task_enqueued,
            task_finished,
            task_started,
        )
        from django_tasks.utils import normalize_json  # type: ignore[assignment,no-redef,unused-ignore]
    except ImportError as missing:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "runs.tasks needs Django's Tasks framework: Django 6 or later, or on Django 5.2 the backport "
            "(pip install 'django-tasks>=0.12')") from missing

__all__ = [
    "DEFAULT_TASK_PRIORITY",
    "DEFAULT_TASK_QUEUE_NAME",
    "TASK_MAX_PRIORITY",
    "TASK_MIN_PRIORITY",
    "BaseTaskBackend",
    "InvalidTask",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "normalize_json",
    "task_enqueued",
    "task_finished",
    "task_started",
]
