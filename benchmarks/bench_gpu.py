"""The attack stage on one GPU: images per second, rnnviz against the plain way, side by side.

ResNet-50 (random init: the cost does not depend on the weights), 224 px, the user's eps list
0, 0.01, 0.1, the default layers (stem + every residual block), one model:

  torchattacks + hooks  torchattacks.FGSM per eps on a batch, one hooked forward per eps and one clean
  rnnviz                ``analyze``: one gradient for every eps, clean activations from that pass
  rnnviz + trust        as a run measures a model: Poisson bootstrap (200), noise baseline, exemplars (4)
  rnnviz PGD-10 + trust the same under 10-step PGD

Images live on the host, as in a run (each batch is copied to the GPU). Figures are medians over
``--repeats`` after a warm-up, CUDA-synchronized; also the peak GPU memory of each row.

    python benchmarks/bench_gpu.py [--images 512] [--batch-size 128] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_attack import data, max_rel_diff, with_torchattacks  # noqa: E402
from benchmarks.doc_table import print_table  # noqa: E402
from rnnviz.models.loading import load_model
from rnnviz.sweep.attacks import PGDSettings
from rnnviz.sweep.loop import analyze
from rnnviz.sweep.settings import SweepSettings

EPS = [0.0, 0.01, 0.1]  # rnnviz-report --classes flamingo --eps 0,0.01,0.1


def timed(fn, repeats: int, device: str) -> tuple[float, float, object]:
    """(median seconds, peak GPU GiB, last result) after one untimed warm-up call."""
    out = fn()
    times = []
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    return statistics.median(times), peak, out


def settings(layers, batch_size: int, device: str, attack: str = "fgsm", trust: bool = False) -> SweepSettings:
    extra = {"bootstrap": 200, "noise": True, "exemplars": 4, "classes": list(range(4))} if trust else {}
    return SweepSettings(
        eps=EPS, layers=layers, batch_size=batch_size, device=device, attack=attack, pgd=PGDSettings(10), **extra
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--arch", default="resnet50")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model(f"random:{args.arch}", device=device)
    layers = model.default_layers
    x, y = data(args.images, 224)
    y = y % 4  # four classes, as the per-class view of a small run
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(
        f"{args.arch} (random init) on {name}, torch {torch.__version__}; {args.images} images at 224 px, "
        f"eps {EPS}, {len(layers)} layers, batch {args.batch_size}, median of {args.repeats}"
    )
    gpu_x, gpu_y = x.to(device), y.to(device)
    rows = {
        "torchattacks + hooks": lambda: with_torchattacks(model.module, gpu_x, gpu_y, layers, args.batch_size, EPS),
        "rnnviz": lambda: analyze(model.module, x, y, settings(layers, args.batch_size, device)).channels,
        "rnnviz + trust": lambda: analyze(model.module, x, y, settings(layers, args.batch_size, device, trust=True)),
        "rnnviz PGD-10 + trust": lambda: analyze(
            model.module, x, y, settings(layers, args.batch_size, device, "pgd", trust=True)
        ),
    }
    figures, outputs = {}, {}
    for row, fn in rows.items():
        seconds, peak, outputs[row] = timed(fn, args.repeats, device)
        figures[row] = {"s": seconds, "images_per_s": args.images / seconds, "peak_gpu_gib": peak}
    base = figures["rnnviz"]["s"]
    print(f"  {'':<24} {'s':>8} {'img/s':>8} {'ratio to rnnviz':>16} {'peak GPU GiB':>13}")
    for row, f in figures.items():
        print(f"  {row:<24} {f['s']:8.2f} {f['images_per_s']:8.0f} {f['s'] / base:16.2f} {f['peak_gpu_gib']:13.1f}")
    theirs = [{k: v.cpu() for k, v in e.items()} for e in outputs["torchattacks + hooks"]]
    agree = max_rel_diff([{k: v.cpu() for k, v in e.items()} for e in outputs["rnnviz"]], theirs)
    print(f"  sensitivities agree with torchattacks + hooks to {agree:.1e} (max relative difference)")
    tf32 = "on" if torch.backends.cudnn.allow_tf32 else "off"
    cells = [(row, f"{f['images_per_s']:,.0f}", f"{f['peak_gpu_gib']:.1f}") for row, f in figures.items()]
    header = ["attack stage, one model", f"img/s (TF32 {tf32})", "peak GPU GiB"]
    print_table(f"One GPU ({args.arch}, batch {args.batch_size})", header, cells, " ".join(sys.argv))
    if args.json:
        Path(args.json).write_text(json.dumps({"device": name, "torch": torch.__version__, **figures}, indent=2))


if __name__ == "__main__":
    main()
