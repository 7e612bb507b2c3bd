"""Durations as the SDK accepts them (S5); the parsing lives in `runs.durations`, shared with the store."""

from runs.durations import ONE_YEAR, Duration, deadline, parse_duration

__all__ = ["ONE_YEAR", "Duration", "deadline", "parse_duration"]
