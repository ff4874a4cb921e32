"""Per-image randomness for a batch: one generator per image (before issue 26) vs counter-based draws.

For 4,096 images at 3x28x28 (the built-in pair's input), on the CPU, one run each: the noise
baseline's signs, PGD's uniform start, and the bootstrap weights (200 Poisson(1) columns plus the
subset draw). "per image" rebuilds what the engine did before: a sha256-keyed ``torch.Generator``
per image for signs and starts, two numpy generators per image for the weights.

    python benchmarks/bench_draws.py [--images 4096] [--size 28]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.doc_table import print_table  # noqa: E402
from rnnviz.common.files import key_digest
from rnnviz.sweep import draws
from rnnviz.sweep.bootstrap import ImageWeights

BOOTSTRAP = 200


def per_image_signs(index: torch.Tensor, shape) -> torch.Tensor:
    out = torch.empty((len(index), *shape), dtype=torch.int64)
    for row, i in zip(out, index.tolist()):
        gen = torch.Generator().manual_seed(int(key_digest(noise=(0, i, "0.1"))[:15], 16))
        torch.randint(0, 2, tuple(row.shape), generator=gen, out=row)
    return out


def per_image_starts(index: torch.Tensor, shape) -> torch.Tensor:
    out = torch.empty((len(index), *shape))
    for row, i in zip(out, index.tolist()):
        gen = torch.Generator().manual_seed(int(key_digest(pgd_start=(0, i))[:15], 16))
        torch.rand(tuple(row.shape), generator=gen, out=row)
    return out


def per_image_weights(index: torch.Tensor) -> np.ndarray:
    rows = []
    for i in index.tolist():
        poisson = np.random.default_rng([0, 1, i]).poisson(1.0, BOOTSTRAP)
        u = np.random.default_rng([0, 2, i]).random()
        rows.append(np.concatenate([poisson.astype(np.float64), [float(u < f) for f in (0.1, 0.25, 0.5)]]))
    return np.stack(rows)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=4096)
    p.add_argument("--size", type=int, default=28)
    args = p.parse_args()
    index, shape = torch.arange(args.images), (3, args.size, args.size)
    n = int(np.prod(shape))
    weights = ImageWeights(BOOTSTRAP, (), 0)
    rows = [
        ("noise signs", lambda: per_image_signs(index, shape), lambda: draws.signs(0, 7, index, n)),
        ("PGD start", lambda: per_image_starts(index, shape), lambda: draws.uniform(0, 8, index, n, torch.float32)),
        ("bootstrap weights", lambda: per_image_weights(index), lambda: weights.of(index, torch.zeros_like(index))),
    ]
    print(f"{args.images} images, {shape}, {torch.get_num_threads()} threads, one run each (seconds)")
    cells = []
    for name, old, new in rows:
        t_old, t_new = timed(old), timed(new)
        print(f"  {name:<18} per image {t_old:7.3f}   counter-based {t_new:7.3f}   x{t_old / t_new:6.1f}")
        cells.append((name, f"{t_old:.3f} s", f"{t_new:.3f} s", f"{t_old / t_new:.1f}x"))
    header = ["draws", "one generator per image", "counter-based", "speed-up"]
    print_table(f"Per-image randomness ({args.images} images)", header, cells, " ".join(sys.argv))


if __name__ == "__main__":
    main()
