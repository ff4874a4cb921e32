"""Random damage to a real results folder: ``--from`` answers 0 or 2, at most one stderr line,
never writes outside the folder and never hangs (issue 18)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import signal
from pathlib import Path

import pytest
from fixtures.make_results import SMALL, make_results

from rnnviz.cli import main

CASES, SEED, HANG_S = 40, 18, 60  # a hang, not a slow machine: a damaged folder renders in seconds
FAST_CASES = 2  # make test draws these; make test-all all CASES
PATHS = [
    "../x.png",
    "../victim/keep.png",
    "/etc/passwd",
    "javascript:alert(document.domain)",
    "data:text/html,<script>alert(1)</script>",
    "figures",
    "data/fifo",
    "figures\\x.png",
    "",
    "x/../../../victim/OVERWRITTEN",
    "$\\frac{$",
    "results.json",
    "data/accuracy.csv",
]
UNREAD = {"ranking", "comparison", "bootstrap", "channel_max_activation", "neuron_sensitivity", "label_set"}
NUMBERS = [math.nan, math.inf, -math.inf, -1, 1e308, 99, 0, 2**70, 0.5]
OTHERS = [None, True, "1", [], {}, [1, 2], {"a": 1}]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return make_results(tmp_path_factory.mktemp("fuzz") / "run", **SMALL)


def leaves(value, path=()):
    """Every (path, value) in the document, containers included."""
    yield path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        yield from leaves(item, (*path, key))


def mutate(results: dict, rng: random.Random) -> str:
    path, value = rng.choice([(p, v) for p, v in leaves(results) if p and p[0] not in UNREAD])
    parent = results
    for key in path[:-1]:
        parent = parent[key]
    kind = rng.choice(["type", "path", "number", "delete"])
    if kind == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif kind == "path" or (isinstance(value, str) and kind != "type"):
        parent[path[-1]] = rng.choice(PATHS)
    elif kind == "number" or isinstance(value, (int, float)) and kind != "type":
        parent[path[-1]] = rng.choice(NUMBERS)
    else:
        parent[path[-1]] = rng.choice(OTHERS)
    now = parent.get(path[-1], "<deleted>") if isinstance(parent, dict) else parent[path[-1]]
    return f"{kind} {'.'.join(map(str, path))} -> {now!r}"


def checksum(folder: Path, skip: Path) -> dict[str, str]:
    """Every entry under ``folder`` except ``skip`` (the report folder itself), with its content hash."""
    sums = {}
    for p in sorted(folder.rglob("*")):
        if p == skip or skip in p.parents:
            continue
        sums[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else "-"
    return sums


def _hang(signum, frame):
    raise TimeoutError("--from hung")


@pytest.mark.parametrize(
    "case", [c if c < FAST_CASES else pytest.param(c, marks=pytest.mark.slow) for c in range(CASES)]
)
def test_damaged_results_never_escape_or_hang(pristine, tmp_path, capsys, case):
    rng = random.Random(SEED * 1000 + case)
    root = tmp_path / "run"
    shutil.copytree(pristine, root, symlinks=True)
    os.mkfifo(root / "data" / "fifo")  # a name in PATHS: opening it would block
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "keep.png").write_bytes(b"precious")
    (tmp_path / "x.png").write_bytes(b"mine")
    results = json.loads((root / "results.json").read_text())
    what = [mutate(results, rng) for _ in range(rng.choice([1, 1, 2]))]
    (root / "results.json").write_text(json.dumps(results))
    before = checksum(tmp_path, root)
    previous = signal.signal(signal.SIGALRM, _hang)
    signal.alarm(HANG_S)
    try:
        rc = main(["--from", str(root), "--no-pdf", "--quiet"])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    err = capsys.readouterr().err.strip()
    assert rc in (0, 2), (what, err)
    assert len(err.splitlines()) <= 1 and "Traceback" not in err, (what, err)
    assert checksum(tmp_path, root) == before, what
    assert not list(root.rglob("*.part")), what
