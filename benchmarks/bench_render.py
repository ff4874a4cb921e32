"""Feature visualization speed: plain lucent vs rnnviz's batched, truncated, cached renderer.

    python benchmarks/bench_render.py [--steps 64 --size 224 --repeats 1 --channels 8 --threads 0]

Model: random-init torchvision ResNet-34 taking [0, 1] input (ImageNet normalization as a
forward pre-hook, as rnnviz loads it), ``--channels`` channels of ``layer3``, the same steps and
image size for every row:

  (a) plain lucent, one ``render_vis`` call per channel as lucent's README shows (weights left
      trainable, lucent's own normalization off since the model normalizes; the model sees the
      padded image, size + 24 px, as in rnnviz);
  (b) ``rnnviz.channels.featvis.render_channels`` with an empty cache;
  (c) the same call again (every render a cache hit).

Rows run interleaved per repeat; the table gives medians of wall-clock and process CPU seconds
(CPU time is steadier on a shared machine).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", category=FutureWarning)  # kornia 0.4.1 at import

from lucent.optvis import param, render  # noqa: E402

from rnnviz.channels import featvis
from rnnviz.channels.featvis.settings import precision
from rnnviz.models.loading import IMAGENET_MEAN, IMAGENET_STD, add_input_normalization, freeze

LAYER = "layer3"


def build_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return freeze(add_input_normalization(torchvision.models.resnet34(), IMAGENET_MEAN, IMAGENET_STD))


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def plain_lucent(model, channels, steps, size):
    """What a lucent user writes: one render_vis per channel."""
    np.random.seed(0)
    torch.manual_seed(0)
    for c in channels:
        render.render_vis(
            model,
            f"{LAYER}:{c}",
            param_f=lambda: param.image(size),
            thresholds=(steps,),
            preprocess=False,
            progress=False,
            show_image=False,
            fixed_image_size=size + 24,
        )


def rnnviz_render(model, channels, cache: Path):
    os.environ["RNNVIZ_CACHE"] = str(cache)
    return featvis.render_channels(
        model, [(LAYER, c) for c in channels], model_id="bench-resnet34", input_size=224, quality="bench", progress=None
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads (default 0: torch's choice). On an oversubscribed machine, 1 avoids "
        "OpenMP waits (they made 2 threads 4x slower there); it is also the least favourable "
        "setting for rnnviz, whose batches use threads better than lucent's single images",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    featvis.QUALITY["bench"] = featvis.Quality(steps=args.steps, min_size=args.size, max_size=args.size)
    channels = list(range(args.channels))
    model = build_model()
    lucent_model = copy.deepcopy(model).requires_grad_(True)  # README style: weights trainable
    rows = {
        "(a) lucent render_vis, 1 channel/call": [],
        "(b) rnnviz render_channels, cold": [],
        "(c) rnnviz rerun, warm cache": [],
    }
    names = list(rows)
    print(
        f"ResNet-34 (random init) {LAYER}, {len(channels)} channels, {args.steps} steps, {args.size} px, "
        f"{torch.get_num_threads()} threads, precision {precision(torch.device('cpu'))}",
        flush=True,
    )
    for r in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            rows[names[0]].append(timed(lambda: plain_lucent(lucent_model, channels, args.steps, args.size)))
            rows[names[1]].append(timed(lambda: rnnviz_render(model, channels, Path(tmp))))
            hits: list = []
            rows[names[2]].append(timed(lambda hits=hits: hits.extend(rnnviz_render(model, channels, Path(tmp)))))
            assert all(h.cache_hit for h in hits), "the rerun rendered something"
        print(f"repeat {r + 1}: " + ", ".join(f"{n[:3]} {rows[n][-1][0]:.1f}s" for n in names), flush=True)
    med = {n: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for n, v in rows.items()}
    base = med[names[1]]
    print(f"\n{'':40s} {'wall s':>9s} {'cpu s':>9s} {'wall / (b)':>11s} {'cpu / (b)':>10s}")
    for n, (wall, cpu) in med.items():
        print(f"{n:40s} {wall:9.3f} {cpu:9.3f} {wall / base[0]:11.4f} {cpu / base[1]:10.4f}")
    print(
        f"\nspeed-up of rnnviz over plain lucent (a/b): {med[names[0]][0] / base[0]:.2f}x wall, "
        f"{med[names[0]][1] / base[1]:.2f}x cpu; rerun cost (c/b): {100 * med[names[2]][0] / base[0]:.2f}% wall"
    )


if __name__ == "__main__":
    main()
