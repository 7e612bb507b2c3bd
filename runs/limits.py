"""Sizes of the values user code hands the engine, as the database columns bound them.

Checked where the value is handed over (a step id, a wait's event name), so a value too long fails that call
with a clear error instead of a commit the database refuses.
"""

from runs.exceptions import LimitExceeded
from runs.values import MAX_OUTPUT_BYTES

MAX_NAME_CHARS = 200  # app, function and event names; a wait's event name and match path
MAX_STEP_ID_CHARS = 300  # a step id, with the suffix a reused id gets
MAX_KEY_CHARS = 300  # flow-control keys (concurrency, rate limit, debounce)

# A stored error, native (runs.errors.ErrorRecord.from_exception) or reported by an SDK app: its name is an error
# type (the incidents table keeps it in a name column: MAX_NAME_CHARS), its message and stack are cut to these
# (stored on every attempt and shown on the run page).
MAX_ERROR_MESSAGE_CHARS = 10_000
MAX_ERROR_STACK_CHARS = 50_000

# An SDK app's answer to a Call Request: the largest value it may carry (a step's output, a return value, an
# invoke's data: the native output limit) and room for the protocol around it (the op's fields, an error).
MAX_ANSWER_BYTES = MAX_OUTPUT_BYTES + 1024 * 1024


def check_length(value: str, limit: int, what: str) -> str:
    """`value`, or LimitExceeded naming the limit."""
    if len(value) > limit:
        raise LimitExceeded(f"{what} is {len(value)} characters long; the limit is {limit}: {value[:40]!r}...")
    return value


def shortened(text: str, limit: int) -> str:
    """`text`, or its start with a note saying it was cut: `limit` characters in all."""
    if len(text) <= limit:
        return text
    note = f"... [{len(text)} characters, cut to {limit}]"
    return text[:max(limit - len(note), 0)] + note
