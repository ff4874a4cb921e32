"""The recorded runs the report tests read (tests/fixtures/recorded/) are what the engine writes
today: a fresh run of each gives the same numbers and the same files. When this fails after a
change that moves a number on purpose, re-record: ``.venv/bin/python tests/fixtures/record.py``."""

from __future__ import annotations

import json
import math

import pytest
from fixtures.record import MACHINE, RECORDED, RUNS, machine, record

UNSTABLE = ("created", "timings", "environment")  # the clock and the machine, not the measurement
# A render's optimisation amplifies float rounding (torch's thread count changes the sums' order):
# its numbers are checked for shape only.
RENDER_NUMBERS = ("relative_activation", "final_activation", "steps", "stop", "high_frequency_share", "diversity")
# Another CPU (other kernels: AVX2, AVX-512) rounds differently and PGD's steps carry it on: between
# two such machines σ-derived numbers moved by up to 4e-3, and a borderline image flipped an FGSM
# count or a patched set's accuracy. So numbers are compared on the recording's machine only
# (recorded/machine.json); elsewhere the folder's shape (keys, lengths, types) is.


def differences(a, b, path: str = "") -> list[str]:
    """Where two JSON values differ: keys, lengths, strings and integers exactly; floats to 1e-6."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} entries"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    floats = all(isinstance(v, float) for v in (a, b))
    if floats and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9):
        return []
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def shape(value):
    """Keys, lengths and types: what a run's folder holds, whatever its numbers."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def test_differences_tell_float_noise_from_a_change():
    assert differences({"s": [0.5, 2]}, {"s": [0.5 + 1e-9, 2]}) == []
    assert differences({"s": [0.5, 2]}, {"s": [0.5 + 1e-3, 2]}) == [".s[0]: 0.5 vs 0.501"]
    assert differences({"n": 2}, {"n": 3}) == [".n: 2 vs 3"]
    assert differences(shape({"a": [0.9, "x"]}), shape({"a": [0.8, "y"]})) == []
    assert differences(shape({"a": [0.9]}), shape({"a": [0.9, 0.1]})) == [".a: 1 vs 2 entries"]


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
    assert differences(shape(old), shape(new)) == []
    files = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())  # noqa: E731
    assert files(fresh) == files(RECORDED / name)
    recorded_on = json.loads(MACHINE.read_text())
    if recorded_on != machine():
        pytest.skip(
            f"shape checked; numbers are compared on the recording's machine only ({recorded_on}, here {machine()})"
        )
    assert differences(old, new) == []
