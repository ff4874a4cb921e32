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

    python benchmarks/bench_render.py --match [--match-model fashion-robust --match-layer layer4.0
                                               --match-steps 512 --channels 6]

Quality-matched speed: per channel, the activation (spatial mean, fp32, untransformed image) that
lucent's ``render_vis`` reaches in ``--match-steps`` steps, then ``render_channels`` with that as
each channel's target (stopping there, capped at 4x the steps), both timed in the same run: once
per channel alone (the per-channel time beside lucent's) and once for all channels as one batch
(what a run does). Default: the built-in robust model's layer4.0, the demo's ranked layer.
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

from benchmarks.doc_table import print_table  # noqa: E402
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
    facts, request = featvis.ModelFacts("bench-resnet34", 224), featvis.RenderRequest(quality="bench")
    return featvis.render_channels(model, [(LAYER, c) for c in channels], facts, request, progress=None)


def activation(model, layer: str, channel: int, image: torch.Tensor) -> float:
    """The channel's spatial-mean activation of one (1, 3, H, W) image, fp32, as rnnviz measures it."""
    got: dict[str, torch.Tensor] = {}
    handle = model.get_submodule(layer).register_forward_hook(lambda m, i, o: got.setdefault("a", o))
    with torch.no_grad():
        model(image.float())
    handle.remove()
    return float(got["a"][0, channel].mean())


def match_model(name: str, size: int, layer: str | None):
    """(model, layer, render size, input size, grayscale): the random ResNet-34 (layer3 by default),
    or a built-in Fashion model (layer4.0 by default)."""
    if name == "resnet34":
        return build_model(), layer or LAYER, size, 224, False
    from rnnviz.models.loading import load_model

    loaded = load_model(f"builtin:{name}")
    render_size = featvis.QUALITY["draft"].size(loaded.input_size)
    return loaded.module, layer or "layer4.0", render_size, loaded.input_size, loaded.grayscale


def lucent_to_steps(model, layer: str, channels: list[int], size: int, steps: int) -> tuple[dict, dict]:
    """lucent's ``render_vis``, one channel per call: the activation each reaches and its seconds."""
    lucent_model = copy.deepcopy(model).requires_grad_(True)
    reached, seconds = {}, {}
    np.random.seed(0)
    torch.manual_seed(0)
    for c in channels:
        t = time.perf_counter()
        (img,) = render.render_vis(
            lucent_model,
            f"{layer.replace('.', '_')}:{c}",
            param_f=lambda: param.image(size),
            thresholds=(steps,),
            preprocess=False,
            progress=False,
            show_image=False,
        )
        seconds[c] = time.perf_counter() - t
        reached[(layer, c)] = activation(model, layer, c, torch.from_numpy(img).permute(0, 3, 1, 2))
        print(f"lucent {layer}:{c}: {reached[(layer, c)]:.4f} in {seconds[c]:.1f} s", flush=True)
    return reached, seconds


def rnnviz_to_target(model, layer: str, channels: list[int], reached: dict, args, input_size: int, gray: bool):
    """``render_channels`` towards lucent's activations, fresh cache: (renders, seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RNNVIZ_CACHE"] = tmp
        t = time.perf_counter()
        renders = featvis.render_channels(
            model,
            [(layer, c) for c in channels],
            featvis.ModelFacts(f"bench-{args.match_model}", input_size, gray),
            featvis.RenderRequest(quality="match"),
            max_activation={(layer, c): reached[(layer, c)] for c in channels},
            progress=None,
        )
        return renders, time.perf_counter() - t


def quality_matched(args) -> None:
    """Time to the activation lucent reaches in ``--match-steps`` steps, per channel, side by side."""
    model, layer, size, input_size, gray = match_model(args.match_model, args.size, args.match_layer)
    channels = list(range(args.channels))
    reached, lucent_s = lucent_to_steps(model, layer, channels, size, args.match_steps)
    featvis.QUALITY["match"] = featvis.Quality(steps=4 * args.match_steps, min_size=size, max_size=size)
    alone = {}
    for c in channels:
        alone[c] = rnnviz_to_target(model, layer, [c], reached, args, input_size, gray)
        (solo,), solo_s = alone[c]
        print(
            f"rnnviz {layer}:{c} alone: {solo.final_activation:.4f} in {solo_s:.1f} s ({solo.steps} steps)", flush=True
        )
    renders, ours = rnnviz_to_target(model, layer, channels, reached, args, input_size, gray)
    print(
        f"\nquality-matched: {args.match_model} {layer}, {size} px, lucent {args.match_steps} steps per channel, "
        f"{torch.get_num_threads()} threads"
    )
    head = f"{'channel':>8s} {'lucent act':>11s} {'lucent s':>9s} {'rnnviz act':>11s} {'steps':>6s} {'stop':>8s}"
    print(head + f" {'alone s':>8s} {'lucent/alone':>13s}")
    for r in renders:
        c = r.channel
        (solo,), solo_s = alone[c]
        theirs = f"{reached[(layer, c)]:11.4f} {lucent_s[c]:9.2f}"
        print(
            f"{c:8d} {theirs} {solo.final_activation:11.4f} {solo.steps:6d} {solo.stop:>8s} "
            f"{solo_s:8.2f} {lucent_s[c] / solo_s:12.2f}x"
        )
    total, solo_total = sum(lucent_s.values()), sum(s for _, s in alone.values())
    hit = sum(r.stop == "target" for r in renders)
    solo_hit = sum(r.stop == "target" for (r,), _ in alone.values())
    ratios = [lucent_s[c] / alone[c][1] for c in channels]
    print(
        f"lucent {total:.1f} s for {len(channels)} channels; rnnviz one channel at a time {solo_total:.1f} s "
        f"({solo_hit}/{len(channels)} reached lucent's activation): {total / solo_total:.2f}x "
        f"(per channel {min(ratios):.2f}-{max(ratios):.2f}x, median {statistics.median(ratios):.2f}x); "
        f"rnnviz batched {ours:.1f} s ({hit}/{len(renders)} reached it): {total / ours:.2f}x"
    )
    cells = [
        (
            c,
            f"{reached[(layer, c)]:.4f}, {lucent_s[c]:.1f} s",
            f"{alone[c][0][0].final_activation:.4f}, {alone[c][0][0].steps} steps, {alone[c][1]:.2f} s",
            f"{lucent_s[c] / alone[c][1]:.0f}x",
        )
        for c in channels
    ]
    header = ["channel", f"lucent: activation after {args.match_steps} steps, seconds"]
    header += ["rnnviz alone: activation, steps, seconds", "ratio"]
    print_table("Quality-matched", header, cells, " ".join(sys.argv))


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
    ap.add_argument("--match", action="store_true", help="only the quality-matched comparison (see the docstring)")
    ap.add_argument("--match-steps", type=int, default=512)
    ap.add_argument("--match-layer", help="the layer (default: layer4.0 of a built-in model, layer3 of resnet34)")
    ap.add_argument(
        "--match-model", choices=["resnet34", "fashion-standard", "fashion-robust"], default="fashion-robust"
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.match:
        return quality_matched(args)
    featvis.QUALITY["bench"] = featvis.Quality(steps=args.steps, min_size=args.size, max_size=args.size)
    channels = list(range(args.channels))
    model = build_model()
    lucent_model = copy.deepcopy(model).requires_grad_(True)  # README style: weights trainable
    rows: dict[str, list[tuple[float, float]]] = {
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
    labels = [
        "lucent `render.render_vis`, one channel per call (as lucent's README shows, `show_image=False`)",
        f"rnnviz `render_channels`, cold cache ({len(channels)} channels in one batch)",
        "rnnviz rerun, warm cache",
    ]
    cells = [
        (label, f"{wall:.3f} s" if wall < 1 else f"{wall:.1f} s", f"{cpu:.1f} s", f"{wall / base[0]:.4g}x")
        for label, (wall, cpu) in zip(labels, med.values())
    ]
    print_table("Feature visualization", ["way", "wall", "CPU", "ratio to rnnviz"], cells, " ".join(sys.argv))


if __name__ == "__main__":
    main()
