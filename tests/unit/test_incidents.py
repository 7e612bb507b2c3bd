"""The incident signature (runs/incidents.py): what folds two failures into one incident, and what keeps two
apart; the hourly buckets behind the sparkline. Pure functions, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runs import incidents
from runs.ids import new_id

NOW = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(("one", "other"), [
    ("timeout after 31 s", "timeout after 12 s"),
    ("timeout after 1.5 s", "timeout after 20 s"),
    ("user 'alice' not found", "user 'bob' not found"),
    ('key "a-1" missing', 'key "zz" missing'),
    ("order 3f2a9c1e-0b1d-4c3e-9a8b-7c6d5e4f3a2b failed", "order 00000000-1111-2222-3333-444444444444 failed"),
    (f"run {new_id()} is gone", f"run {new_id()} is gone"),
    ("object at 0x7f3a2b1c is closed", "object at 0xdeadbeef is closed"),
    ("digest 9f86d081884c7d65 mismatch", "digest a1b2c3d4e5f60718 mismatch"),
    ("too   many\nspaces 3", "too many spaces 4"),
])
def test_what_varies_between_occurrences_folds_away(one: str, other: str) -> None:
    assert incidents.normalise_message(one) == incidents.normalise_message(other)


def test_the_folded_message_keeps_its_words() -> None:
    assert incidents.normalise_message("timeout after 31 s") == "timeout after <n> s"
    assert incidents.normalise_message("user 'alice' at 0xff") == "user '…' at <hex>"
    assert incidents.normalise_message("x" * 1000) == "x" * incidents.MAX_MESSAGE_CHARS


@pytest.mark.parametrize("change", ["app", "function", "step", "type", "message"])
def test_each_part_of_the_signature_keeps_incidents_apart(change: str) -> None:
    base = {"app": "a", "function": "f", "step": "s", "type": "TimeoutError", "message": "timeout after <n> s"}
    other = {**base, change: base[change] + "-other"}
    assert incidents.signature_id(*base.values()) != incidents.signature_id(*other.values())
    assert incidents.signature_id(*base.values()) == incidents.signature_id(*dict(base).values())


def test_no_step_and_an_empty_step_are_the_body() -> None:
    assert incidents.signature_id("a", "f", None, "E", "m") == incidents.signature_id("a", "f", "", "E", "m")


def test_buckets_count_per_hour_and_the_series_ends_now() -> None:
    buckets: dict[str, int] = {}
    for when in (NOW, NOW - timedelta(minutes=20), NOW - timedelta(hours=2), NOW - timedelta(hours=30)):
        buckets = incidents.count_in(buckets, when)
    series = incidents.series(buckets, NOW)
    assert len(series) == 24 and series[-1] == 2 and series[-3] == 1 and sum(series) == 3  # 30 h ago: outside


def test_buckets_keep_a_week() -> None:
    buckets: dict[str, int] = {}
    for hours in range(incidents.KEEP_BUCKETS + 10, -1, -1):
        buckets = incidents.count_in(buckets, NOW - timedelta(hours=hours))
    assert len(buckets) == incidents.KEEP_BUCKETS
    assert incidents.bucket_of(NOW) in buckets


def test_root_functions_are_listed_once_and_capped() -> None:
    functions: list[str] = []
    for i in [0, 1, 0, *range(50)]:
        functions = incidents.add_root_function(functions, f"app/f{i}")
    assert functions[:2] == ["app/f0", "app/f1"] and len(functions) == incidents.MAX_ROOT_FUNCTIONS
