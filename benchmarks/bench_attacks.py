"""Several attacks in one run against one run per attack, side by side in one process.

Two levels, the same images and settings for both sides:

  stage   rnnviz.analyze_attacks(fgsm, pgd) against analyze(fgsm) + analyze(pgd): what sharing the
          clean pass, the gradient and the noise baseline saves in the attack + sensitivity stage.
  run     `rnnviz-report --attack fgsm,pgd` against `--attack fgsm` and `--attack pgd` as two runs
          (each its own process: loading, clean pass, transfer, patching, tables and the report).

Prints medians over --repeats and the ratios (one run / two runs).

    python benchmarks/bench_attacks.py [--images 64] [--size 224] [--run-images 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_attack import data  # noqa: E402
from benchmarks.doc_table import print_table  # noqa: E402
from rnnviz.models.loading import load_model
from rnnviz.sweep.attacks import PGDSettings
from rnnviz.sweep.loop import analyze, analyze_attacks
from rnnviz.sweep.settings import SweepSettings

EPS = [0.0, 0.01, 0.03]
ATTACKS = ("fgsm", "pgd")


def stage_together(model, x, y, settings):
    return analyze_attacks(model, x, y, settings, ATTACKS)


def stage_apart(model, x, y, settings):
    return {a: analyze(model, x, y, SweepSettings(**{**settings.__dict__, "attack": a})) for a in ATTACKS}


def report(attack: str, images: int, root: Path) -> float:
    """Wall time of one whole `rnnviz-report` process on the built-in pair."""
    out = root / f"r-{attack}-{time.monotonic_ns()}"
    argv = ["--preset", "fashion", "--n-images", str(images), "--attack", attack, "--quality", "none", "--quiet"]
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rnnviz.cli", *argv, "--out", str(out)], check=True, cwd=root)
    return time.perf_counter() - t


def median_of(fn, repeats: int) -> float:
    fn()  # warm-up (oneDNN picks kernels on first use; caches fill)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=64, help="images for the stage comparison")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--run-images", type=int, default=50, help="images per class for the whole-run comparison")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()
    torch.set_num_threads(torch.get_num_threads())

    model = load_model("random:resnet18").module.eval()
    x, y = data(args.images, args.size)
    settings = SweepSettings(
        eps=EPS,
        layers=load_model("random:resnet18").default_layers,
        batch_size=32,
        noise=True,
        bootstrap=200,
        pgd=PGDSettings(steps=10),
    )
    together = median_of(lambda: stage_together(model, x, y, settings), args.repeats)
    apart = median_of(lambda: stage_apart(model, x, y, settings), args.repeats)
    print(f"stage: ResNet-18 {args.size}px, {args.images} images, eps {EPS}, fgsm + pgd-10, bootstrap 200, noise")
    print(f"  one pass, both attacks   {together:8.2f} s")
    print(f"  one pass per attack      {apart:8.2f} s   ratio one/two {together / apart:5.3f}")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run_one = [report("fgsm,pgd", args.run_images, root) for _ in range(args.repeats)]
        run_two = [
            report("fgsm", args.run_images, root) + report("pgd", args.run_images, root) for _ in range(args.repeats)
        ]
    one, two = statistics.median(run_one), statistics.median(run_two)
    print(f"run: built-in pair, 3 classes x {args.run_images} images, default eps, quality none, PDF on")
    print(f"  --attack fgsm,pgd        {one:8.2f} s")
    print(f"  --attack fgsm; pgd       {two:8.2f} s   ratio one/two {one / two:5.3f}")
    stage = f"ResNet-18 {args.size} px, {args.images} images, {len(EPS)} eps, PGD-10, bootstrap 200, noise"
    rows = [
        (f"stage: `analyze_attacks(fgsm, pgd)` vs `analyze(fgsm)` + `analyze(pgd)`, {stage}", together, apart),
        (
            f"whole `rnnviz-report` on the built-in pair ({3 * args.run_images} images, quality none, PDF): "
            "`--attack fgsm,pgd` vs `--attack fgsm` then `--attack pgd`",
            one,
            two,
        ),
    ]
    cells = [(what, f"{a:.1f} s", f"{b:.1f} s", f"{a / b:.2f}") for what, a, b in rows]
    print_table("Several attacks", ["comparison", "one run", "two runs", "ratio"], cells, " ".join(sys.argv))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"stage": [together, apart, together / apart], "run": [one, two, one / two]}, indent=1)
        )


if __name__ == "__main__":
    main()
