"""Flow-control keys fit their column without two distinct keys becoming one (S17, S18, S19)."""

from __future__ import annotations

from django.utils import timezone

from runs.limits import MAX_KEY_CHARS
from runs.store.flow import scoped_key
from runs.store.rows import new_run


def _run(value: str):  # type: ignore[no-untyped-def]
    event = {"id": "e", "name": "keys/test", "data": {"k": value}, "user": {}, "ts": 0}
    return new_run(app_id="keys-app", function_id="f", event=event, now=timezone.now())


def test_a_short_key_is_kept_as_it_is() -> None:
    assert scoped_key(_run("tenant-1"), "c", "event.data.k") == 'c:keys-app/f:"tenant-1"'


def test_long_keys_that_differ_only_past_the_limit_stay_distinct_and_fit() -> None:
    common = "x" * 400
    first, second = scoped_key(_run(common + "a"), "c", "event.data.k"), scoped_key(_run(common + "b"), "c",
                                                                                        "event.data.k")
    assert first != second
    assert len(first) <= MAX_KEY_CHARS and len(second) <= MAX_KEY_CHARS
    assert first.startswith('c:keys-app/f:"xxx')  # still readable in the dashboard
    assert scoped_key(_run(common + "a"), "c", "event.data.k") == first  # stable: the same key every time
