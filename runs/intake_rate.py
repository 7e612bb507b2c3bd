"""Rate limit of HTTP event intake, per event key: a token bucket counted in events.

Each key gets `RUNS_INTAKE_BURST` events at once and `RUNS_INTAKE_RATE` events per second after that; a request
that would go past it is refused whole (429 with Retry-After) and stores nothing. The buckets live in the
serving process, so N Daphne processes admit up to N times the rate: a bound against one runaway sender, not
an accounting system.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from runs import conf

MAX_BUCKETS = 10_000  # distinct keys remembered; beyond that the fullest buckets are forgotten


@dataclass(slots=True)
class Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Buckets by key; `take` answers 0 when the cost is admitted, else the seconds to wait before retrying."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, float, float], Bucket] = {}

    def take(self, key: str, cost: int, *, rate: float, burst: float) -> float:
        if rate <= 0:
            return 0.0
        needed = min(float(cost), burst)  # a request bigger than the burst is admitted from a full bucket, not never
        now = self._clock()
        # Settings are part of the key: a changed rate or burst starts a fresh bucket.
        slot = (hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest(), rate, burst)
        with self._lock:
            bucket = self._buckets.get(slot)
            if bucket is None:
                if len(self._buckets) >= MAX_BUCKETS:
                    self._forget_full(now, rate, burst)
                bucket = self._buckets[slot] = Bucket(tokens=burst, updated=now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= needed:
                bucket.tokens -= needed
                return 0.0
            return (needed - bucket.tokens) / rate

    def _forget_full(self, now: float, rate: float, burst: float) -> None:
        # A bucket that has refilled is the same as a new one: dropping it changes nothing.
        for slot, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.updated) * slot[1] >= slot[2]:
                del self._buckets[slot]
        if len(self._buckets) >= MAX_BUCKETS:
            self._buckets.clear()


BUCKETS = TokenBuckets()


def retry_after(key: str, events: int) -> int:
    """0 if `events` more events from `key` are admitted now (and counted), else whole seconds to wait (>= 1)."""
    rate = float(conf.get("RUNS_INTAKE_RATE"))
    burst = float(conf.get("RUNS_INTAKE_BURST"))
    wait = BUCKETS.take(key, events, rate=rate, burst=max(1.0, burst))
    return max(1, math.ceil(wait)) if wait > 0 else 0
