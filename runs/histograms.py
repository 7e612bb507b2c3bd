"""Percentiles from a bucketed histogram of durations: the metrics keep counts per bucket (runs.models
DURATION_BOUNDS_MS), not every duration, so a week of runs sums to twenty numbers per chart point. Pure."""

from __future__ import annotations

from collections.abc import Sequence


def percentile(counts: Sequence[int], bounds: Sequence[float], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) of durations counted in `counts`, where counts[i] is the number in
    (bounds[i-1], bounds[i]] (the first from 0, the last, one longer than `bounds`, above the last bound).
    Linear inside the bucket it falls in, as Prometheus' histogram_quantile does; a quantile in the open-ended
    last bucket is its lower bound. None without durations."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index >= len(bounds):
                return float(bounds[-1])
            lower = float(bounds[index - 1]) if index else 0.0
            return lower + (float(bounds[index]) - lower) * (rank - seen) / count
        seen += count
    return float(bounds[-1])
