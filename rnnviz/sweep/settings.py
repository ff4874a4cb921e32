"""``SweepSettings``: what one sweep measures and how (the loop is ``rnnviz.sweep.loop``).

The sweep package's words: a *sweep* is one pass over the images at every epsilon
(``rnnviz.sweep.loop``, whose public verb is ``analyze``), configured by ``SweepSettings`` (here),
and it yields one ``ModelAnalysis`` per model and attack (``rnnviz.sweep.analysis``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from rnnviz.models.input_size import BYTES_PER_VALUE
from rnnviz.sweep.attacks import PGDSettings
from rnnviz.sweep.bootstrap import SUBSET_DRAWS, SUBSET_FRACTIONS, ImageWeights
from rnnviz.sweep.hooks import LayerHooks


@dataclass(frozen=True)
class SweepSettings:
    """What one sweep measures and how; the same for both models of a pair.

    Args:
        eps: perturbation sizes in [0, 1] pixel units (0 reproduces clean accuracy exactly).
        layers: module paths whose channels are measured.
        attack: ``"fgsm"`` or ``"pgd"``.
        pgd: PGD's steps and step size (ignored by FGSM).
        batch_size: images per forward pass (changes no number beyond float rounding).
        seed: seeds PGD's random start, the noise baseline and the resampling weights (per image).
        examples: image indices whose adversarial versions are kept for the report.
        neurons: ``(layer, channel)`` pairs whose sensitivity is also mapped per position.
        device: where the model runs.
        bootstrap: Poisson bootstrap resamples B for intervals (0: none).
        noise: also measure sigma under random sign noise of the same size (the baseline).
        classes: label indices with a per-class view (with ``bootstrap``, weighted sums per class).
        first_index: the global index of ``images[0]`` (a shard of a larger set): resampling weights
            and noise belong to an image's global index, so shards merge into the whole exactly.
        exemplars: keep, per channel, this many top images by clean activation and by change
            (``rnnviz.sweep.exemplars``; under the first attack only); 0: none.
    """

    eps: Sequence[float]
    layers: Sequence[str]
    attack: str = "fgsm"
    pgd: PGDSettings = PGDSettings()
    batch_size: int = 32
    seed: int = 0
    examples: Sequence[int] = ()
    neurons: Sequence[tuple[str, int]] = ()
    device: str = "cpu"
    bootstrap: int = 0
    noise: bool = False
    classes: Sequence[int] = ()
    first_index: int = 0
    exemplars: int = 0

    @property
    def weights(self) -> ImageWeights | None:
        """Per-image resampling weights; None when no interval or per-class view is asked for."""
        if not (self.bootstrap or self.classes):
            return None
        return ImageWeights(self.bootstrap, tuple(self.classes), self.seed)

    def __post_init__(self):
        object.__setattr__(self, "eps", tuple(float(e) for e in self.eps))
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "examples", tuple(self.examples))
        object.__setattr__(self, "neurons", tuple(tuple(n) for n in self.neurons))
        object.__setattr__(self, "classes", tuple(self.classes))


# ------------------------------------------------------------------ what a run's sweep holds in memory

HOOKED_COPIES = 5  # per hooked layer and image: clean (kept over the eps), attacked, two noise controls, a difference
# the network's outputs the attack's backward pass keeps, and the gradient in flight (measured: an FGSM sweep
# of a ResNet-18 at 224 px grows by 49 MB an image, 1.2 times its 36 MB of module outputs plus its hooked layers')
WHOLE_NET_COPIES = 1.5
SUM_BYTES = 8  # every running sum is float64


@dataclass(frozen=True)
class SweepCost:
    """Bytes a run's measurements hold: ``fixed`` whatever the batch (the running sums: the cross-model
    sums grow with the square of the channels over all layers), plus ``per_image`` for every image of a batch."""

    fixed: int
    per_image: int
    channels: int  # over all the chosen layers

    def need(self, batch: int) -> int:
        return self.fixed + batch * self.per_image


@dataclass(frozen=True)
class SweepShape:
    """How many of each thing a run keeps running sums for: eps above 0 (``moving_eps``), attacks,
    bootstrap resamples, classes with a view of their own, and pairs of models (the run's and each
    further pair)."""

    moving_eps: int
    attacks: int
    bootstrap: int
    classes: int
    pairs: int = 1


def sweep_cost(model: torch.nn.Module, layers: Sequence[str], x: torch.Tensor, shape: SweepShape) -> SweepCost:
    """What ``analyze_attacks``, the cross-model statistics and their merges hold for ``layers`` of
    ``model`` (measured by one forward pass of the one image ``x``) in a run of ``shape``: per image in
    flight, every hooked layer's C x positions values in ``HOOKED_COPIES`` copies plus the whole
    network's outputs for the attack's backward pass (``WHOLE_NET_COPIES``); fixed, per pair of models,
    the weighted sums (bootstrap, classes, subsets: K x C per eps above 0, attack, model and noise
    control, twice while merged) and the cross sums (all channels x all channels, every layer pair)."""
    sizes, whole = _layer_sizes(model, list(layers), x)
    channels = sum(c for c, _ in sizes.values())
    per_image = int(HOOKED_COPIES * sum(c * p for c, p in sizes.values()) + WHOLE_NET_COPIES * whole) * BYTES_PER_VALUE
    width = (
        shape.bootstrap + shape.classes + SUBSET_DRAWS * len(SUBSET_FRACTIONS)
        if shape.bootstrap or shape.classes
        else 0
    )
    weighted = 2 * 2 * width * channels * SUM_BYTES * (2 * shape.moving_eps * shape.attacks + 1)
    cross = (channels**2 + 3 * sum(c * c for c, _ in sizes.values())) * SUM_BYTES
    folding = max(c for c, _ in sizes.values()) * channels * SUM_BYTES  # a layer pair's new sum beside the old
    return SweepCost(shape.pairs * (weighted + cross) + folding, per_image, channels)


def _layer_sizes(model: torch.nn.Module, layers: list[str], x: torch.Tensor) -> tuple[dict[str, tuple[int, int]], int]:
    """Per layer (channels, positions) for one image, and the values every module of the network outputs."""
    total = 0

    def count(_module, _inputs, output) -> None:
        nonlocal total
        for t in output if isinstance(output, (tuple, list)) else (output,):
            total += t.numel() if isinstance(t, torch.Tensor) else 0

    handles = [m.register_forward_hook(count) for name, m in model.named_modules() if name]
    try:
        with torch.no_grad(), LayerHooks(model, layers) as hooks:
            outputs = hooks.run(x[:1])
    finally:
        for h in handles:
            h.remove()
    return {name: (int(out.shape[1]), int(out[0, 0].numel())) for name, out in outputs.items()}, total
