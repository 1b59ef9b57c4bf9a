"""Small, dependency-free statistics used by the benchmark figures."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["median", "percentile", "ratio", "summarize_latencies"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks.

    Same definition as NumPy's default (``method="linear"``): the sorted values
    sit at positions 0..n-1 and the percentile is read off at ``q/100 * (n-1)``.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} outside 0..100")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    if lo == hi:
        return float(ordered[lo])
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50.0)


def summarize_latencies(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / p99 / mean / min / max of request durations, in milliseconds."""
    ms = [s * 1000.0 for s in seconds]
    return {
        "p50_ms": percentile(ms, 50.0),
        "p95_ms": percentile(ms, 95.0),
        "p99_ms": percentile(ms, 99.0),
        "mean_ms": sum(ms) / len(ms),
        "min_ms": min(ms),
        "max_ms": max(ms),
    }


def ratio(allotment: float | None, upstream: float | None, better: str) -> float | None:
    """How many times better allotment is than upstream on one figure.

    For figures where lower is better (times, memory) that is upstream/allotment;
    for figures where higher is better (rates) it is allotment/upstream. Either
    way a value above 1 means allotment did better. None when a side is missing
    or not positive.
    """
    if allotment is None or upstream is None or allotment <= 0 or upstream <= 0:
        return None
    if better == "lower":
        return upstream / allotment
    if better == "higher":
        return allotment / upstream
    raise ValueError(f"figure has no direction: {better!r}")
