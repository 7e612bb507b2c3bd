"""Django Tasks on Tributary: `TASKS = {"default": {"BACKEND": "runs.tasks.TributaryBackend"}}` makes every
`@task` a durable run (docs/tasks.md)."""

from runs.tasks.backend import TASK_ENQUEUED, TASKS_APP_ID, TributaryBackend, task_function
from runs.tasks.inputs import InvalidTaskInput
from runs.tasks.results import TaskRunCancelled

__all__ = ["TASKS_APP_ID", "TASK_ENQUEUED", "InvalidTaskInput", "TaskRunCancelled", "TributaryBackend",
           "task_function"]
