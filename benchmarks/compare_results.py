"""How far two results.json files differ: the largest relative difference of any number, and
whether the top-k channel lists and exemplar images are the same.

    python benchmarks/compare_results.py one/results.json other/results.json

For runs that should agree (one process vs torchrun ranks, CPU vs GPU): prints one line per check.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

SKIP = {"timings", "created", "environment", "out", "config_file"}


def numbers(value, path=""):
    """(path, number) for every number in ``value``; strings and booleans are yielded as they are."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in SKIP:
                yield from numbers(v, f"{path}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from numbers(v, f"{path}[{i}]")
    else:
        yield path, value


def largest_difference(a: dict, b: dict) -> tuple[float, str, list[str]]:
    """(largest relative difference of two numbers at the same path, its path, paths that differ otherwise)."""
    left, right = dict(numbers(a)), dict(numbers(b))
    other = sorted(set(left) ^ set(right))
    worst, where = 0.0, ""
    for path in set(left) & set(right):
        u, v = left[path], right[path]
        if isinstance(u, float) and isinstance(v, (int, float)) and not isinstance(v, bool):
            if math.isnan(u) and math.isnan(v):
                continue
            rel = abs(u - v) / max(abs(u), abs(v), 1e-12)
            if rel > worst:
                worst, where = rel, path
        elif u != v:
            other.append(path)
    return worst, where, other


def top_lists(results: dict) -> dict:
    top = results["top_channels"]
    return {m: [[(r["layer"], r["channel"]) for r in per] for per in rows] for m, rows in top.items()}


def main() -> None:
    a, b = (json.loads(Path(p).read_text()) for p in sys.argv[1:3])
    worst, where, other = largest_difference(a, b)
    print(f"largest relative difference of any number: {worst:.2e} at {where or '-'}")
    print(f"other differences (strings, ints, missing keys): {len(other)} {other[:8]}")
    print(f"top-k lists identical: {top_lists(a) == top_lists(b)}")
    print(f"exemplars identical: {a.get('exemplars') == b.get('exemplars')}")


if __name__ == "__main__":
    main()
