"""Wilson score intervals for accuracies: counts in, JSON-ready numbers out.

A per-class accuracy over 100 images moves by several points between samples, and near 0 or 1
the normal (Wald) interval collapses to a point or leaves [0, 1]; Wilson's stays inside and keeps
its width there, which is where a robust model's 100% or an attacked model's 0% sit.
"""

from __future__ import annotations

import math
from statistics import NormalDist


def wilson(correct: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval (low, high) for ``correct`` successes out of ``n``; (nan, nan) at n = 0."""
    if n == 0:
        return math.nan, math.nan
    if not 0 <= correct <= n:
        raise ValueError(f"correct = {correct} is outside 0..n = {n}")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # at 0 or n the bound is exactly 0 or 1; rounding must not move it off
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == n else min(1.0, centre + half)
    return low, high


def accuracy_interval(correct: int, n: int) -> dict:
    """results.json's "interval" object: counts, accuracy and the Wilson 95% bounds.

    At n = 0 accuracy, low and high are None, not nan: results.json is written with
    ``allow_nan=False`` (strict JSON has no NaN).
    """
    correct, n = int(correct), int(n)
    if n == 0:
        return {"correct": correct, "n": 0, "accuracy": None, "low": None, "high": None}
    low, high = wilson(correct, n)
    return {"correct": correct, "n": n, "accuracy": correct / n, "low": float(low), "high": float(high)}


DRAW_SPREAD = (0.05, 0.95)  # the share of control draws a patching verdict reads: their 5th to 95th percentile


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` with linear interpolation between order statistics (numpy's
    default), so the engine's summary and a re-check by hand agree."""
    if not values:
        raise ValueError("a percentile of no values")
    ordered = sorted(values)
    at = q * (len(ordered) - 1)
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def draw_spread(values: list[float]) -> tuple[float, float]:
    """The 5-95% range of a control's draws (``DRAW_SPREAD``)."""
    return percentile(values, DRAW_SPREAD[0]), percentile(values, DRAW_SPREAD[1])
