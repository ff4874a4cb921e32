"""``SweepSettings``: what one sweep measures and how (the loop is ``rnnviz.sweep.loop``).

The sweep package's words: a *sweep* is one pass over the images at every epsilon
(``rnnviz.sweep.loop``, whose public verb is ``analyze``), configured by ``SweepSettings`` (here),
and it yields one ``ModelAnalysis`` per model and attack (``rnnviz.sweep.analysis``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rnnviz.sweep.attacks import PGDSettings
from rnnviz.sweep.bootstrap import ImageWeights


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
