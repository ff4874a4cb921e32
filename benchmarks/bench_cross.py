"""Cost of the cross-model statistics (issue 28) against the trust stage they sit beside.

A run measures each model's trust stage (``bench_attack.engine_with_trust``: FGSM sweep, bootstrap,
noise baseline, per-class sums, summaries) and then makes one clean forward pass of both models
over the same images for ``rnnviz.sweep.cross`` (correlations, CKA, the shuffled baseline). Same
random-init ResNet-18 as bench_attack, loaded twice, its default layers. Prints the median
seconds of both and the cross pass as a share of the two models' trust stages.

    python benchmarks/bench_cross.py [--images 64] [--size 224] [--repeats 3]
"""

from __future__ import annotations

import argparse

from benchmarks.bench_attack import data, engine_with_trust, timed
from rnnviz.models.loading import load_model
from rnnviz.sweep.cross import cross_model_stats


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args()
    standard, robust = load_model("random:resnet18"), load_model("random:resnet18")  # one seeded init, twice
    layers, (x, y) = standard.default_layers, data(args.images, args.size)
    models = {"standard": standard.module, "robust": robust.module}
    print(f"ResNet-18 x 2 (random init), {args.images} images at {args.size} px, layers {', '.join(layers)}")
    t_trust = sum(
        timed(lambda m=m: engine_with_trust(m, x, y, layers, args.batch_size), args.repeats)[0] for m in models.values()
    )
    t_cross, stats = timed(lambda: cross_model_stats(models, x, layers, args.batch_size), args.repeats)
    print(f"  trust stage, both models   {t_trust:8.2f} s")
    print(f"  cross-model statistics     {t_cross:8.2f} s   (+{100 * t_cross / t_trust:.1f}% of the trust stage)")
    print(f"  sums held: {sum(v.numel() for v in stats.cross.values()) * 8 / 2**20:.1f} MiB of cross products")


if __name__ == "__main__":
    main()
