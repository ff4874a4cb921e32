"""Attack + sensitivity stage: rnnviz's engine against the plain ways of doing the same work.

Same model (random-init ResNet-18, normalization inside, 224 px), same images, same
epsilons, same layers (stem + every residual block), all in one run:

  plain        PyTorch FGSM-tutorial style: one image at a time, the gradient recomputed
               for every epsilon, and a separate hooked forward pass per layer (clean and
               adversarial) for the sensitivities.
  torchattacks torchattacks.FGSM called once per epsilon on a batch, plus one hooked
               forward pass per epsilon (and one clean) for the sensitivities.
  rnnviz       rnnviz.analyze: one gradient per image for all epsilons, the clean
               activations recorded on the gradient pass, one forward per non-zero eps.
  +patching    rnnviz+trust, then activation patching with the default ladder (k = 1, 5, 30;
               top-k by sigma, by excess and by the leading measure, the default random and
               magnitude-matched draws per k, each layer's top eighth, the converse) on the
               default seeded 25% of the images. ``--patching`` times it alone against the trust
               stage, for each ``--draws`` count, and prints the share it adds.
  +exemplars   rnnviz+trust, also keeping each channel's top-4 images by clean activation and by
               change (running top-n; what the channel cards need).
  rnnviz+trust the same with what the report needs to say how far to trust the ranking:
               Poisson bootstrap (200 resamples), the random-noise baseline (one more
               forward per non-zero eps), per-class and subset sums, and the ranking
               summaries (intervals, top-k probabilities, expected Jaccard).

Prints median seconds over --repeats and the ratios, then peak memory of the engine
for two image counts (each in a fresh process), which should not grow with N.

    python benchmarks/bench_attack.py [--images 64] [--repeats 3] [--size 224]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.doc_table import print_table  # noqa: E402
from rnnviz.measures import patch_plan, patching
from rnnviz.measures.ranking import EpsRanking
from rnnviz.models.loading import load_model
from rnnviz.settings.config import Config
from rnnviz.settings.patching import patch_ladder
from rnnviz.sweep.hooks import LayerHooks
from rnnviz.sweep.loop import analyze
from rnnviz.sweep.sensitivity import SensitivityMeter
from rnnviz.sweep.settings import SweepSettings

EPS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]  # the PyTorch FGSM tutorial's list


def data(n: int, size: int):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, size, size, generator=g), torch.randint(0, 1000, (n,), generator=g)


def plain(model, x, y, layers):
    """One image at a time, gradient per epsilon, one hooked forward per layer."""
    meters = [SensitivityMeter(layers) for _ in EPS]
    for i in range(len(y)):
        xi, yi = x[i : i + 1], y[i : i + 1]
        for e, eps in enumerate(EPS):
            xg = xi.clone().requires_grad_(True)
            loss = F.cross_entropy(model(xg), yi)
            model.zero_grad()
            loss.backward()
            adv = (xi + eps * xg.grad.sign()).clamp(0, 1)
            with torch.no_grad():
                model(adv)  # the tutorial's prediction on the adversarial image
            clean_acts, adv_acts = {}, {}
            for layer in layers:
                for image, store in ((xi, clean_acts), (adv, adv_acts)):
                    with LayerHooks(model, [layer]) as hooks, torch.no_grad():
                        store[layer] = hooks.run(image)[layer]
            meters[e].add(clean_acts, adv_acts)
    return [m.channels() for m in meters]


def with_torchattacks(model, x, y, layers, batch_size, eps_list=EPS):
    """torchattacks FGSM per epsilon (batched) + one hooked forward per epsilon."""
    import torchattacks

    meters = [SensitivityMeter(layers) for _ in eps_list]
    for start in range(0, len(y), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        with LayerHooks(model, layers) as hooks, torch.no_grad():
            clean = hooks.run(xb)
        for e, eps in enumerate(eps_list):
            adv = torchattacks.FGSM(model, eps=eps)(xb, yb)
            with LayerHooks(model, layers) as hooks, torch.no_grad():
                meters[e].add(clean, hooks.run(adv))
    return [m.channels() for m in meters]


def engine(model, x, y, layers, batch_size):
    return analyze(model, x, y, SweepSettings(eps=EPS, layers=layers, batch_size=batch_size)).channels


def engine_with_trust(model, x, y, layers, batch_size, bootstrap=200, exemplars=0):
    """The stage as the report runs it: bootstrap, noise baseline, per-class sums, summaries
    (and with ``exemplars``, the running top-n images per channel the cards need)."""
    settings = SweepSettings(
        eps=EPS,
        layers=layers,
        batch_size=batch_size,
        bootstrap=bootstrap,
        noise=True,
        classes=sorted(set(y.tolist()))[:10],
        exemplars=exemplars,
    )
    a = analyze(model, x, y, settings)
    names = [str(c) for c in settings.classes]
    return [EpsRanking(a, e, "sigma").summary(5, names) for e, eps in enumerate(EPS) if eps > 0]


def engine_with_patching(model, x, y, layers, batch_size, share=None, resume=True, draws=None):
    """The trust stage, then the patching pass at the defaults a run uses (``share``: of the images
    patched, default the run's; ``resume``: patched passes start at the first patched layer;
    ``draws``: random and magnitude-matched control draws per k, default the run's)."""
    cfg = Config()
    draws = cfg.patch_draws if draws is None else draws
    settings = SweepSettings(eps=EPS, layers=layers, batch_size=batch_size, bootstrap=cfg.bootstrap, noise=True)
    a = analyze(model, x, y, settings)
    plans = {e: patch_plan.plan(a, e, patch_ladder(cfg.patch), draws, 0) for e, eps in enumerate(EPS) if eps}
    share = cfg.patch_share if share is None else share
    return patching.patch_sweep(model, x, y, settings, plans, share, resume=resume)


def patching_only(model, x, y, layers, args) -> None:
    """The trust stage vs trust + patching, side by side in one run, for each count of control draws
    per k (``--draws``); ``--full`` also runs the full forward pass per set group (same counts)."""
    t_trust, _ = timed(lambda: engine_with_trust(model, x, y, layers, args.batch_size), args.repeats)
    print(f"  {'rnnviz + trust':<40} {t_trust:8.2f} s")
    figures = {"trust_s": t_trust}
    for draws in args.draws:
        t, counts = timed(
            lambda d=draws: engine_with_patching(model, x, y, layers, args.batch_size, args.patch_share, draws=d),
            args.repeats,
        )
        sets = sum(len(c.sets) for c in counts.values())
        label = f"+ patching, {draws} draws per k ({sets} sets)"
        print(f"  {label:<40} {t:8.2f} s   {100 * (t / t_trust - 1):+6.0f}% over the trust stage")
        figures[f"patch_{draws}_s"] = t
        figures[f"over_trust_{draws}"] = t / t_trust - 1
        if args.full:
            t_full, full = timed(
                lambda d=draws: engine_with_patching(
                    model, x, y, layers, args.batch_size, args.patch_share, resume=False, draws=d
                ),
                args.repeats,
            )
            same = all(torch.equal(counts[e].correct, full[e].correct) for e in counts)
            print(f"  {'  same, full forward pass':<40} {t_full:8.2f} s   counts identical: {same}")
    n = next(iter(counts.values())).n
    print(f"  patched images per eps: {n}")
    rows = [("the trust stage", f"{t_trust:.1f} s", "")] + [
        (
            f"+ patching, {d} draws per k",
            f"{figures[f'patch_{d}_s']:.1f} s",
            f"{100 * figures[f'over_trust_{d}']:+.0f}%",
        )
        for d in args.draws
    ]
    print_table("Patching draws", ["stage", "time", "over the trust stage"], rows, " ".join(sys.argv))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


def timed(fn, repeats):
    """Median wall time after one untimed warm-up call (oneDNN picks kernels on first use)."""
    times, out = [], fn()
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def peak_memory_mb(n: int, size: int, batch_size: int, stage: str = "engine") -> float:
    """Peak RSS of a fresh process running the engine on n images (input tensor excluded)."""
    root = str(Path(__file__).resolve().parents[1])
    code = (
        f"import resource, sys, torch; sys.path.insert(0, {root!r}); torch.set_num_threads(2)\n"
        "from benchmarks.bench_attack import data, engine, engine_with_trust, EPS\n"
        "from rnnviz.models.loading import load_model\n"
        f"m = load_model('random:resnet18'); x, y = data({n}, {size})\n"
        f"{stage}(m.module, x, y, m.default_layers, {batch_size})\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - x.numel() * 4) / 2**20)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def max_rel_diff(a, b):
    return max(
        float(((a[e][k] - b[e][k]).abs() / b[e][k].abs().clamp_min(1e-6)).max()) for e in range(len(a)) for k in a[e]
    )


# docs/benchmarks.md's rows for ``main``'s, in the same order: the way in words, and its goal
DOC_ROWS = [
    ("plain: one image at a time, gradient per eps, one hooked forward per layer (tutorial style)", ">= 10x"),
    ("torchattacks `FGSM` per eps (batched) + one hooked forward per eps", ">= 3x"),
    ("the same on rnnviz's channels_last model", ""),
    ("rnnviz (`rnnviz.analyze`)", ""),
    ("rnnviz + trust: bootstrap B = 200, noise baseline, per-class and subset sums, ranking summaries", "<= 1.5x"),
    ("rnnviz + trust + exemplars (each channel's top 4 by clean activation and by change)", "trust + 10%"),
    ("rnnviz + trust + activation patching (defaults; 25% of the images)", "patching <= +100%"),
]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--plain-images",
        type=int,
        default=None,
        help="run the (slow) plain way on this many images and scale linearly (default: all)",
    )
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--quick", action="store_true", help="only rnnviz, +trust and +exemplars (no plain way, no memory)")
    p.add_argument("--patching", action="store_true", help="only the trust stage vs + patching, per --draws")
    p.add_argument(
        "--draws",
        type=lambda t: [int(d) for d in t.split(",")],
        default=[2, 20],
        help="with --patching: control draws per k to time, comma-separated (default 2,20)",
    )
    p.add_argument("--full", action="store_true", help="with --patching: also the full forward pass (same counts)")
    p.add_argument("--patch-share", type=float, default=None, help="share of the images patched (default: a run's)")
    args = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = load_model("random:resnet18")
    layers = model.default_layers
    # the plain ways get the model as a user would hold it: the same weights in torch's default
    # NCHW layout (rnnviz keeps its models channels_last, which is part of what is measured)
    user_model = copy.deepcopy(model.module).to(memory_format=torch.contiguous_format)
    x, y = data(args.images, args.size)
    print(
        f"ResNet-18 (random init), {args.images} images at {args.size} px, {len(EPS)} eps, "
        f"{len(layers)} layers, {torch.get_num_threads()} threads, median of {args.repeats}"
    )

    if args.patching:
        patching_only(model.module, x, y, layers, args)
        return
    t_engine, ours = timed(lambda: engine(model.module, x, y, layers, args.batch_size), args.repeats)
    t_trust, _ = timed(lambda: engine_with_trust(model.module, x, y, layers, args.batch_size), args.repeats)
    t_exemplars, _ = timed(
        lambda: engine_with_trust(model.module, x, y, layers, args.batch_size, exemplars=4), args.repeats
    )
    if args.quick:
        for name, t in [("rnnviz", t_engine), ("+ trust", t_trust), ("+ trust + exemplars (4)", t_exemplars)]:
            print(f"  {name:<30} {t:8.2f} s   ratio to rnnviz {t / t_engine:6.2f}")
        print(f"  exemplar tracking adds {100 * (t_exemplars / t_trust - 1):+.1f}% to the trust stage")
        rows = [
            ("the trust stage", f"{t_trust:.2f} s", ""),
            (
                "the same keeping each channel's top-4 images",
                f"{t_exemplars:.2f} s",
                f"{100 * (t_exemplars / t_trust - 1):+.1f}%",
            ),
        ]
        print_table("Exemplar tracking", ["stage", "time", "over the trust stage"], rows, " ".join(sys.argv))
        return
    t_patch, _ = timed(lambda: engine_with_patching(model.module, x, y, layers, args.batch_size), args.repeats)
    t_ta, theirs = timed(lambda: with_torchattacks(user_model, x, y, layers, args.batch_size), args.repeats)
    t_ta_cl, _ = timed(lambda: with_torchattacks(model.module, x, y, layers, args.batch_size), args.repeats)
    n_plain = args.plain_images or args.images
    t = time.perf_counter()
    slow = plain(user_model, x[:n_plain], y[:n_plain], layers)
    t_plain = time.perf_counter() - t
    t_plain *= args.images / n_plain
    check = max_rel_diff(engine(model.module, x[:n_plain], y[:n_plain], layers, args.batch_size), slow)

    rows = [
        ("plain (tutorial style)", t_plain),
        ("torchattacks + hooks", t_ta),
        ("  same, channels_last", t_ta_cl),
        ("rnnviz", t_engine),
        ("rnnviz + trust (B=200, noise)", t_trust),
        ("rnnviz + trust + exemplars (4)", t_exemplars),
        ("rnnviz + trust + patching", t_patch),
    ]
    for name, t in rows:
        print(f"  {name:<30} {t:8.2f} s   ratio to rnnviz {t / t_engine:6.2f}")
    print(f"  exemplar tracking adds {100 * (t_exemplars / t_trust - 1):+.1f}% to the trust stage")
    print(f"  sensitivities agree with the plain way to {check:.1e} (max relative difference)")
    doc_rows = [(label, f"{t:.1f} s", f"{t / t_engine:.2f}x", goal) for (_, t), (label, goal) in zip(rows, DOC_ROWS)]
    print_table("Attack + sensitivity", ["way", "time", "ratio to rnnviz", "goal"], doc_rows, " ".join(sys.argv))
    print(f"  torchattacks sensitivities agree to {max_rel_diff(ours, theirs):.1e}")
    mem = {
        stage: {n: peak_memory_mb(n, args.size, args.batch_size, stage) for n in (args.batch_size, 4 * args.batch_size)}
        for stage in ("engine", "engine_with_trust")
    }
    for stage, by_n in mem.items():
        for n, mb in by_n.items():
            print(f"  peak memory, {stage} on {n:>4} images (input tensor excluded): {mb:7.0f} MB")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "plain_s": t_plain,
                    "torchattacks_s": t_ta,
                    "torchattacks_channels_last_s": t_ta_cl,
                    "rnnviz_s": t_engine,
                    "rnnviz_trust_s": t_trust,
                    "ratio_trust": t_trust / t_engine,
                    "rnnviz_exemplars_s": t_exemplars,
                    "ratio_exemplars_to_trust": t_exemplars / t_trust,
                    "rnnviz_patch_s": t_patch,
                    "ratio_patch_to_trust": t_patch / t_trust,
                    "ratio_plain": t_plain / t_engine,
                    "ratio_torchattacks": t_ta / t_engine,
                    "peak_mb": mem,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
