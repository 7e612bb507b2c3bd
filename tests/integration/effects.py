"""Side effects that outlive a process: one appended line per step execution, counted by the tests.

The worker subprocesses run the steps; a SIGKILLed worker's memory is gone but the file is not. Each line is
written with one O_APPEND write, so lines from concurrent processes never interleave.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

RELEASE_SUFFIX = ".release"


def append_line(path: str, *fields: object) -> None:
    line = (" ".join(str(f) for f in fields) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def record(path: str, label: str) -> str:
    """A step's side effect: `<label> <pid>`."""
    append_line(path, label, os.getpid())
    return label


def block_until_released(path: str, label: str, block: bool, limit: float = 120.0) -> str:
    """A slow step: records `<label>:start`, waits (when `block`) for the test to create the release file,
    then records `<label>:done`. The test kills the worker while it waits here."""
    record(path, f"{label}:start")
    deadline = time.monotonic() + limit
    while block and not os.path.exists(path + RELEASE_SUFFIX):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{label}: nobody created {path + RELEASE_SUFFIX} within {limit} s")
        time.sleep(0.02)
    record(path, f"{label}:done")
    return label


def release(path: str) -> None:
    Path(path + RELEASE_SUFFIX).touch()


def lines(path: str | Path) -> list[list[str]]:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return [line.split() for line in text.splitlines() if line.strip()]


def label_counts(path: str | Path) -> Counter[str]:
    return Counter(fields[0] for fields in lines(path))
