"""Values crossing a run or step boundary (S6); the checks live in `runs.values`, shared with the store."""

from runs.errors import error_dict
from runs.values import (
    JSON_NUL,
    MAX_JSON_DEPTH,
    MAX_OUTPUT_BYTES,
    json_roundtrip,
    lookup_path,
    nesting_depth,
    storable_text,
    too_deep,
)

__all__ = ["JSON_NUL", "MAX_JSON_DEPTH", "MAX_OUTPUT_BYTES", "error_dict", "json_roundtrip", "lookup_path",
           "nesting_depth", "storable_text", "too_deep"]
