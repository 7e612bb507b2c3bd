"""Sizes of the values user code hands the engine, as the database columns bound them.

Checked where the value is handed over (a step id, a wait's event name), so a value too long fails that call
with a clear error instead of a commit the database refuses.
"""

from runs.exceptions import LimitExceeded

MAX_NAME_CHARS = 200  # app, function and event names; a wait's event name and match path
MAX_STEP_ID_CHARS = 300  # a step id, with the suffix a reused id gets
MAX_KEY_CHARS = 300  # flow-control keys (concurrency, rate limit, debounce)


def check_length(value: str, limit: int, what: str) -> str:
    """`value`, or LimitExceeded naming the limit."""
    if len(value) > limit:
        raise LimitExceeded(f"{what} is {len(value)} characters long; the limit is {limit}: {value[:40]!r}...")
    return value
