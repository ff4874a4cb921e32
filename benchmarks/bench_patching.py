"""The patching stage of an earlier tree against this one: the demo's models, images and eps.

    git archive 65b4d2e | tar -x -C /tmp/base      # the earlier tree (any checkout of it will do)
    python benchmarks/bench_patching.py --base /tmp/base [--repeats 2] [--per-class 100]

Each run is a child process with the tree's code on its PYTHONPATH (this venv): the demo's two
built-in Fashion models on the shipped sample of its classes (sneaker, bag, ankle boot), the sweep
with a run's trust settings at eps 0, 0.05, 0.1, 0.2, then ``patch_sweep`` with a run's defaults
(k = 1, 5, 30; 20 random and 20 magnitude-matched draws per k; 25% of the images), timed after a
warm-up on a few images. The trees alternate; the script prints the medians, the ratio this tree /
the earlier one, and whether both trees counted the same (every set's correct count, per model and eps).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.doc_table import machine, print_table  # noqa: E402

CHILD = """
import hashlib, json, sys, time
import torch
from rnnviz.data.builtin import load_builtin_sample
from rnnviz.measures import patch_plan, patching
from rnnviz.models.loading import load_model
from rnnviz.settings.config import Config
from rnnviz.settings.patching import patch_ladder
from rnnviz.sweep.loop import analyze
from rnnviz.sweep.settings import SweepSettings

cfg, eps = Config(), [0.0, 0.05, 0.1, 0.2]
sample = load_builtin_sample([7, 8, 9], int(sys.argv[1]), 0)
x, y = sample.images, sample.labels
seconds, digest = 0.0, hashlib.sha256()
for spec in ("builtin:fashion-standard", "builtin:fashion-robust"):
    model = load_model(spec)
    layers = model.default_layers
    s = SweepSettings(eps=eps, layers=layers, batch_size=cfg.batch_size, bootstrap=cfg.bootstrap, noise=True)
    a = analyze(model.module, x, y, s)
    ladder = patch_ladder(cfg.patch)
    plans = {e: patch_plan.plan(a, e, ladder, cfg.patch_draws, cfg.seed) for e, v in enumerate(eps) if v}
    patching.patch_sweep(model.module, x[:8], y[:8], s, plans, 1.0)  # warm-up: oneDNN picks its kernels
    start = time.perf_counter()
    counts = patching.patch_sweep(model.module, x, y, s, plans, cfg.patch_share)
    seconds += time.perf_counter() - start
    for e in sorted(counts):
        digest.update(counts[e].correct.numpy().tobytes())
print(json.dumps({"seconds": seconds, "counts": digest.hexdigest()}))
"""


def one_run(tree: Path, per_class: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(per_class)], cwd=tree, env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", type=Path, required=True, help="a checkout of the earlier tree")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--per-class", type=int, default=100, help="images per class (the demo: 100)")
    args = p.parse_args()
    trees = {"before": args.base.resolve(), "after": ROOT}
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    for k in range(args.repeats):
        for name, tree in trees.items():
            runs[name].append(one_run(tree, args.per_class))
            print(f"round {k + 1} {name}: {runs[name][-1]['seconds']:.2f} s")
    medians = {name: statistics.median(r["seconds"] for r in got) for name, got in runs.items()}
    same = len({r["counts"] for got in runs.values() for r in got}) == 1
    rows = [(name, f"{m:.1f} s") for name, m in medians.items()]
    rows.append(("after / before", f"{medians['after'] / medians['before']:.2f}"))
    print(f"counts identical in every run: {same}")
    print_table(
        "Patching, before and after",
        ["tree", "patching (both demo models)"],
        rows,
        " ".join(sys.argv),
        f"{machine()}; median of {args.repeats} alternating runs; counts identical: {same}",
    )


if __name__ == "__main__":
    main()
