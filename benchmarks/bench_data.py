"""Image loading speed and memory: rnnviz's stream vs torchvision's ImageFolder + DataLoader.

    python benchmarks/bench_data.py [--images 2000 --repeats 3 --batch-size 32 --workers 0,2 --tv-workers 2
                                    --rss 1000,4000 --attack-rss 1000,4000]
    python benchmarks/bench_data.py --images 0 --attack-rss 1000,4000   # the attack-stage rows alone

Data: ``--images`` synthetic 500x375 JPEGs (smooth random images, quality 90, the size of a typical
ImageNet validation photo) in four ImageNet synset folders in a temporary directory. Every row
decodes, resizes (shorter side 256) and centre-crops (224) every image to a float tensor in [0, 1]:

  (a) rnnviz: ``stream_folder`` (selection + the up-front check of every file) then ``batches``;
  (b) torchvision: ``ImageFolder`` with Resize(256) + CenterCrop(224) + ToTensor, ``DataLoader``.

rnnviz at each ``--workers`` count, torchvision at each ``--tv-workers`` count; rows interleave per
repeat; figures are medians. "iterate" times the batches alone, "total" adds building the index (for
rnnviz, its up-front check of every file); "CPU ms/img" is the total's CPU time, this process and its
workers (steadier than wall time on a shared machine). Peak memory: a fresh
process iterates each ``--rss`` count of images through the stream (2 workers), and reports its own
peak RSS and the largest worker's; flat means the same for 1,000 and 4,000 images.

Attack stage (``--attack-rss``, e.g. 1000,4000): a fresh process runs the pipeline's attack stage
(``load_images`` then ``run_analysis``: FGSM at eps 0 and 0.1 on both models, every default layer
hooked) over that many synthetic JPEGs, once through the lazy view (``run``'s path, 2 workers) and
once from one tensor (``load_images(lazy=False)``). ``--attack-size 28``: the built-in Fashion pair on
small JPEGs in Fashion class folders (the tensor is small, so the two modes barely differ);
``--attack-size 224``: two random-init ResNet-18s (``--attack-model``) on the 500x375 JPEGs above,
where the one tensor of 4,000 images is 2.4 GB. ``--device cuda`` runs the models on the GPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.doc_table import print_table  # noqa: E402
from rnnviz.data.images import Preprocess, Selection
from rnnviz.data.stream import CheckPlan, stream_folder
from rnnviz.models.labels import imagenet_labels

SYNSETS = ("n01440764", "n01443537", "n02007558", "n02123045")  # tench, goldfish, flamingo, tabby
PREP = Preprocess(size=224, resize=256)  # rnnviz's ImageNet preprocessing (torchvision's resize 256, crop 224)


def make_folder(root: Path, n: int, seed: int = 0) -> None:
    """``n`` smooth random 500x375 JPEGs (a coarse colour field upscaled, plus grain) over the synset folders."""
    rng = np.random.default_rng(seed)
    grains = [rng.integers(-12, 13, (375, 500, 3)).astype(np.int16) for _ in range(8)]
    for i in range(n):
        coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        img = Image.fromarray(coarse).resize((500, 375), Image.Resampling.BICUBIC)
        arr = np.clip(np.asarray(img, dtype=np.int16) + grains[i % len(grains)], 0, 255).astype(np.uint8)
        folder = root / SYNSETS[i % len(SYNSETS)]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(folder / f"ILSVRC2012_val_{i:08d}.JPEG", quality=90)


def link_copies(src: Path, dst: Path, copies: int) -> None:
    """A bigger folder of hard links to the same files (no second encode)."""
    for sub in sorted(src.iterdir()):
        (dst / sub.name).mkdir(parents=True, exist_ok=True)
        for f in sorted(sub.iterdir()):
            for c in range(copies):
                os.link(f, dst / sub.name / f"{f.stem}_{c}{f.suffix}")


def rnnviz_stream(root: Path, per_class: int, workers: int):
    indices = [imagenet_labels().resolve(s) for s in SYNSETS]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return stream_folder(
            root, imagenet_labels(), Selection(indices, per_class, 0), PREP, check=CheckPlan(workers=workers)
        )


def cpu_seconds() -> float:
    """CPU time of this process and of its finished (joined) children, the loader workers."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_rnnviz(root: Path, n: int, workers: int, batch_size: int) -> tuple[float, float, float]:
    """(iterate s, total s, total CPU s)."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    stream = rnnviz_stream(root, n // len(SYNSETS), workers)
    t1 = time.perf_counter()
    count = sum(len(b.images) for b in stream.batches(batch_size, workers=workers))
    t2 = time.perf_counter()
    assert count == n, (count, n)
    return t2 - t1, t2 - t0, cpu_seconds() - c0


def run_torchvision(root: Path, n: int, workers: int, batch_size: int) -> tuple[float, float, float]:
    c0, t0 = cpu_seconds(), time.perf_counter()
    tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()])
    data = torchvision.datasets.ImageFolder(str(root), transform=tf)
    t1 = time.perf_counter()
    loader = DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=workers)
    count = sum(len(x) for x, _ in loader)
    t2 = time.perf_counter()
    assert count == n, (count, n)
    return t2 - t1, t2 - t0, cpu_seconds() - c0


def rss_child(root: Path, n: int, workers: int, batch_size: int) -> None:
    """Run in a fresh process: iterate ``n`` images, print peak RSS (MiB) of this process and of the largest worker."""
    stream = rnnviz_stream(root, n // len(SYNSETS), workers)
    count = sum(len(b.images) for b in stream.batches(batch_size, workers=workers))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{count} {own:.1f} {child:.1f}")


def measure_rss(root: Path, n: int, workers: int, batch_size: int) -> tuple[int, float, float]:
    cmd = [sys.executable, __file__, "--rss-child", str(root), str(n), str(workers), "--batch-size", str(batch_size)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
    return int(out[0]), float(out[1]), float(out[2])


FASHION = ("sneaker", "bag", "sandal", "trouser")


def make_fashion_folder(root: Path, n: int, seed: int = 0) -> None:
    """``n`` small (64x48) smooth random JPEGs over four Fashion class folders."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((64, 48))
        folder = root / FASHION[i % len(FASHION)]
        folder.mkdir(parents=True, exist_ok=True)
        img.save(folder / f"{i:06d}.jpg", quality=90)


def attack_child(root: Path, n: int, workers: int, lazy: bool, batch_size: int, size: int, device: str) -> None:
    """Run in a fresh process: the pipeline's attack stage on ``n`` images; print n, accuracy, peak RSS (MiB)."""
    from rnnviz.pipeline.load import choose_layers, load_images, load_pair
    from rnnviz.pipeline.stages import run_analysis, sweep_settings
    from rnnviz.settings.config import build_config

    if size == 28:
        data = {"preset": "fashion", "classes": ",".join(FASHION), "n_images": n // len(FASHION)}
    else:
        model = os.environ.get("BENCH_ATTACK_MODEL", "random:resnet18")
        data = {"preset": "imagenet", "standard": model, "robust": model, "classes": ",".join(SYNSETS)}
        data["n_images"] = n // len(SYNSETS)
    cfg = build_config(
        {
            **data,
            "data": str(root),
            "eps": "0,0.1",
            "attack": "fgsm",
            "bootstrap": 0,
            "exemplars": 0,
            "quality": "none",
            "batch_size": batch_size,
            "workers": workers,
            "device": device,
        }
    )
    models = load_pair(cfg)
    images = load_images(cfg, models["standard"], lazy=lazy)
    layers = choose_layers(cfg, models)
    done = run_analysis(cfg, models, images, sweep_settings(cfg, layers), progress=False)
    acc = done["fgsm"]["robust"].accuracy[1]
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{len(images)} {acc:.4f} {own:.1f} {child:.1f}")


def attack_rows(tmp: Path, counts: list[int], batch_size: int, size: int, device: str) -> None:
    classes = FASHION if size == 28 else SYNSETS
    root = tmp / f"attack{size}"
    (make_fashion_folder if size == 28 else make_folder)(root, max(counts))
    print(
        f"\n{'images':>7} {'images held':>12} {'peak RSS MiB':>13} {'largest worker MiB':>19} {'s':>6}"
        f"   (attack stage, {size} px, {device})"
    )
    peaks: dict[str, list[str]] = {}
    for count in counts:
        count -= count % len(classes)
        for lazy, workers in ((True, 2), (False, 0)):
            cmd = [sys.executable, __file__, "--attack-child", str(root), str(count), str(workers), str(int(lazy))]
            cmd += ["--batch-size", str(batch_size), "--attack-size", str(size), "--device", device]
            t = time.perf_counter()
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            got, _, own, child = out.stdout.split()
            held = "lazy view" if lazy else "one tensor"
            print(f"{got:>7} {held:>12} {float(own):>13.0f} {float(child):>19.0f} {time.perf_counter() - t:>6.0f}")
            peaks.setdefault(f"{int(got):,}", []).append(f"{float(own):,.0f} MiB")
    header = [
        "images",
        "through the lazy view (a run's path, 2 workers)",
        "from one tensor (`load_images(lazy=False)`)",
    ]
    rows = [(n, *cells) for n, cells in peaks.items()]
    print_table(f"The attack stage's peak memory ({size} px, {device})", header, rows, " ".join(sys.argv))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", default="0,2", help="rnnviz's worker counts, comma-separated")
    ap.add_argument("--tv-workers", default="2", help="torchvision's worker counts, comma-separated")
    ap.add_argument("--rss", default="1000,4000", help="image counts for the peak-memory rows ('' to skip)")
    ap.add_argument("--attack-rss", default="", help="image counts for the attack-stage memory rows, e.g. 1000,4000")
    ap.add_argument("--attack-size", type=int, default=28, choices=(28, 224), help="attack rows' image size")
    ap.add_argument("--device", default="cpu", help="attack rows' device (cpu, cuda)")
    ap.add_argument("--rss-child", nargs=3, metavar=("FOLDER", "N", "WORKERS"), help=argparse.SUPPRESS)
    ap.add_argument("--attack-child", nargs=4, metavar=("FOLDER", "N", "WORKERS", "LAZY"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.attack_child:
        folder, n, workers, lazy = args.attack_child
        attack_child(Path(folder), int(n), int(workers), lazy == "1", args.batch_size, args.attack_size, args.device)
        return
    attack_counts = [int(c) for c in args.attack_rss.split(",") if c]
    if attack_counts and args.images == 0:  # the attack rows alone
        with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
            attack_rows(Path(tmp), attack_counts, args.batch_size, args.attack_size, args.device)
        return
    if args.rss_child:
        folder, n, workers = args.rss_child
        rss_child(Path(folder), int(n), int(workers), args.batch_size)
        return
    n = args.images - args.images % len(SYNSETS)  # equal classes, so every row reads all of them
    worker_counts = [int(w) for w in args.workers.split(",")]
    tv_counts = [int(w) for w in args.tv_workers.split(",") if w]
    rss_counts = [int(c) for c in args.rss.split(",") if c]
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; torch {torch.__version__}, "
        f"torchvision {torchvision.__version__}, Pillow {PIL.__version__}; {n} JPEGs 500x375 -> 224, "
        f"batch {args.batch_size}, {args.repeats} repeat(s)"
    )
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        root = Path(tmp) / "val"
        t = time.perf_counter()
        make_folder(root, n)
        size = sum(f.stat().st_size for f in root.rglob("*.JPEG")) / n / 1024
        print(f"made {n} JPEGs ({size:.0f} KiB each on average) in {time.perf_counter() - t:.0f} s\n")
        rows = [("rnnviz", w) for w in worker_counts] + [("torchvision", w) for w in tv_counts]
        times: dict[tuple[str, int], list[tuple[float, float, float]]] = {r: [] for r in rows}
        for _ in range(args.repeats):
            for name, w in rows:
                run = run_rnnviz if name == "rnnviz" else run_torchvision
                times[(name, w)].append(run(root, n, w, args.batch_size))
        print(
            f"{'loader':<12} {'workers':>7} {'iterate img/s':>14} {'total img/s':>12} {'index s':>8} {'CPU ms/img':>11}"
        )
        speed = {}
        for name, w in rows:
            it, total, cpu = (statistics.median(t[k] for t in times[(name, w)]) for k in range(3))
            speed[(name, w)] = (n / it, n / total, cpu)
            print(f"{name:<12} {w:>7} {n / it:>14.0f} {n / total:>12.0f} {total - it:>8.2f} {cpu / n * 1000:>11.2f}")
        label = {"rnnviz": "rnnviz stream", "torchvision": "torchvision `ImageFolder` + `DataLoader`"}
        cells = [
            (label[name], w, f"{a:.0f}", f"{b:.0f}", f"{c / n * 1000:.2f}") for (name, w), (a, b, c) in speed.items()
        ]
        header = ["loader", "workers", "iterate img/s", "with the index check img/s", "CPU ms/img"]
        print_table(f"Image loading ({n} JPEGs)", header, cells, " ".join(sys.argv))
        print()
        for w in sorted(set(worker_counts) & set(tv_counts)):
            (ri, rt, rc), (ti, tt, tc) = speed[("rnnviz", w)], speed[("torchvision", w)]
            print(
                f"rnnviz / torchvision at {w} worker(s): speed iterate {ri / ti:.2f}x, total {rt / tt:.2f}x; "
                f"CPU per image {rc / tc:.2f}x"
            )
        if rss_counts:
            big = Path(tmp) / "big"
            link_copies(root, big, -(-max(rss_counts) // n))
            print(
                f"\n{'images':>7} {'peak RSS MiB':>13} {'largest worker MiB':>19}   (stream, 2 workers, fresh process)"
            )
            for count in rss_counts:
                count -= count % len(SYNSETS)
                got, own, child = measure_rss(big, count, 2, args.batch_size)
                print(f"{got:>7} {own:>13.0f} {child:>19.0f}")
        if attack_counts:
            attack_rows(Path(tmp), attack_counts, args.batch_size, args.attack_size, args.device)


if __name__ == "__main__":
    main()
