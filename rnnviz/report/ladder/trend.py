"""Page 1 of a ladder: whether each measure changes with training eps, said only as far as its
intervals go.

A step between neighbouring models counts as a rise (or a fall) only where the two intervals do not
overlap; otherwise the step is "within the intervals". A measure with no interval (the noise share's
range over the top-k, CKA) is described, and no trend is claimed for it.
"""

from __future__ import annotations

from rnnviz.report.ladder.numbers import Estimate
from rnnviz.report.text.format import pct

Point = tuple[str, Estimate]  # (the model's training eps as text, its value)


def step(a: Estimate, b: Estimate) -> str:
    """ "up", "down" or "within" (overlapping intervals, or a value without one)."""
    if None in (a.low, a.high, b.low, b.high):
        return "within"
    if b.low > a.high:  # type: ignore[operator]
        return "up"
    if b.high < a.low:  # type: ignore[operator]
        return "down"
    return "within"


def verdict(points: list[Point]) -> str:
    """How a measure moves along the ladder, in words: monotone or not, and where it changes."""
    steps = [(a[0], b[0], step(a[1], b[1])) for a, b in zip(points, points[1:])]
    kinds = {s for _, _, s in steps}
    if not steps:
        return "was measured for one model only"
    if kinds == {"up"} and len(steps) > 1:
        return "rises at every step of training ε"
    if kinds == {"down"} and len(steps) > 1:
        return "falls at every step of training ε"
    if kinds == {"within"}:
        return "changes along the ladder by no more than its intervals"
    runs = _runs(steps)
    moves = [f"{'rises' if s == 'up' else 'falls'} from training ε {a} to {b}" for a, b, s in runs if s != "within"]
    still = [f"{a} to {b}" for a, b, s in runs if s == "within"]
    shape = "is not monotone in training ε: it " if {"up", "down"} <= kinds else ""
    rest = f" (from {', '.join(still)}: within them)" if still else ""
    return f"{shape}{' and '.join(moves)} beyond the intervals{rest}"


def _runs(steps: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Neighbouring steps of one kind joined: (0, 0.05, up), (0.05, 0.1, up) -> (0, 0.1, up)."""
    runs: list[tuple[str, str, str]] = []
    for a, b, s in steps:
        if runs and runs[-1][2] == s:
            runs[-1] = (runs[-1][0], b, s)
        else:
            runs.append((a, b, s))
    return runs


def values(points: list[Point], form=pct) -> str:
    """ "0% (0–1.9%) at training ε 0, 45% (38–52%) at 0.05": each value with its interval, by the
    model's training eps."""
    return ", ".join(
        f"{form(e.value)}{_interval(e, form)} at {'training ε ' * (i == 0)}{x}" for i, (x, e) in enumerate(points)
    )


def _interval(e: Estimate, form) -> str:
    if e.low is None or e.high is None:
        return ""
    return f" ({form(e.low)}–{form(e.high)})"


def ratio(x: float) -> str:
    return f"{x:.2f}×" if x < 10 else f"{x:.1f}×"


def plain_number(x: float) -> str:
    return f"{x:.2f}"
