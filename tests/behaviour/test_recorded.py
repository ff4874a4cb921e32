"""The recorded runs the report tests read (tests/fixtures/recorded/) are what the engine writes
today: a fresh run of each gives the same numbers and the same files. When this fails after a
change that moves a number on purpose, re-record: ``.venv/bin/python tests/fixtures/record.py``."""

from __future__ import annotations

import json
import math

import pytest
from fixtures.record import RECORDED, RUNS, record

UNSTABLE = ("created", "timings", "environment")  # the clock and the machine, not the measurement
# A render's optimisation amplifies float rounding (torch's thread count changes the sums' order):
# its numbers are checked for shape only; every measurement is checked to 1e-6.
RENDER_NUMBERS = ("relative_activation", "final_activation", "steps", "stop", "high_frequency_share", "diversity")


def differences(a, b, path: str = "") -> list[str]:
    """Where two JSON values differ: keys, lengths, strings exactly; numbers to 1e-6 (float noise)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} entries"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if numbers and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9):
        return []
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_fresh_run_gives_the_recorded_numbers(name, tmp_path):
    fresh = record(name, tmp_path / name)
    old, new = (json.loads((d / "results.json").read_text()) for d in (RECORDED / name, fresh))
    for results in (old, new):
        for key in UNSTABLE:
            results.pop(key)
        for render in results["renders"]:
            for key in RENDER_NUMBERS:
                render[key] = type(render[key]).__name__
    assert differences(old, new) == []
    files = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())  # noqa: E731
    assert files(fresh) == files(RECORDED / name)
