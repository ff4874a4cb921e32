"""The sweep's accumulators: each measurement is a small object with ``add`` and ``merge``.

Every one is a running sum, a running maximum or a bounded store, fed from the forward passes
the sweep makes anyway, so memory stays flat in the number of images and the accumulators of
two shards merge into those of the whole (what torchrun's reduction will call).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rnnviz.sweep.bootstrap import WeightedSums
from rnnviz.sweep.hooks import channel_mean
from rnnviz.sweep.sensitivity import SensitivityMeter, channel_scale


@dataclass
class Step:
    """One batch at one epsilon: what every accumulator is fed."""

    start: int  # global index of the batch's first image
    eps_index: int
    clean: dict[str, torch.Tensor]  # layer -> clean activations
    adv: dict[str, torch.Tensor]  # layer -> activations on the perturbed images
    logits: torch.Tensor  # on the perturbed images
    x_adv: torch.Tensor


class Predictions:
    """Predicted class and its softmax probability per image and eps (two small arrays)."""

    def __init__(self, n_eps: int, n: int):
        self.pred = np.full((n_eps, n), -1, dtype=np.int64)
        self.confidence = np.zeros((n_eps, n), dtype=np.float32)

    def add(self, step: Step) -> None:
        top_p, top_i = torch.softmax(step.logits.float(), dim=1).max(dim=1)
        rows = slice(step.start, step.start + len(top_i))
        self.pred[step.eps_index, rows] = top_i.cpu().numpy()
        self.confidence[step.eps_index, rows] = top_p.cpu().numpy()

    def merge(self, other: "Predictions") -> "Predictions":
        done = other.pred >= 0
        self.pred[done], self.confidence[done] = other.pred[done], other.confidence[done]
        return self


class PeakActivation:
    """Per channel, the largest clean spatial-mean activation over all images seen."""

    def __init__(self):
        self.peak: dict[str, torch.Tensor] = {}

    def add(self, clean: dict[str, torch.Tensor]) -> None:
        for name, act in clean.items():
            self._fold(name, channel_mean(act).max(0).values.cpu())

    def _fold(self, name: str, values: torch.Tensor) -> None:
        self.peak[name] = torch.maximum(self.peak[name], values) if name in self.peak else values

    def merge(self, other: "PeakActivation") -> "PeakActivation":
        for name, values in other.peak.items():
            self._fold(name, values)
        return self


class ExampleKeeper:
    """The adversarial images of a few chosen images, per eps (for the report's example grids)."""

    def __init__(self, indices: Sequence[int], n_eps: int):
        self.images: dict[int, list] = {i: [None] * n_eps for i in indices}

    def add(self, step: Step) -> None:
        for i, kept in self.images.items():
            if step.start <= i < step.start + len(step.x_adv):
                kept[step.eps_index] = step.x_adv[i - step.start].detach().cpu()

    def merge(self, other: "ExampleKeeper") -> "ExampleKeeper":
        for i, kept in other.images.items():
            self.images[i] = [b if b is not None else a for a, b in zip(self.images[i], kept)]
        return self

    def stacked(self) -> dict[int, torch.Tensor]:
        return {i: torch.stack(v) for i, v in self.images.items()}


@dataclass
class EpsMeasures:
    """The sums measured at one epsilon: sigma, and optionally the noise baseline and resamples."""

    sigma: SensitivityMeter
    noise: SensitivityMeter | None = None
    sigma_w: WeightedSums | None = None  # sigma's weighted sums (bootstrap, classes, subsets)
    noise_w: WeightedSums | None = None
    gauss: SensitivityMeter | None = None  # sigma under the Gaussian control of the attack's L2 size

    def add(self, step: "Step", noise_adv: dict | None, w: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Fold in one batch; returns sigma's per-image values (layer -> (n, C)) for the exemplars.
        ``noise_adv``: the activations under each noise kind (``sign``, ``gauss``)."""
        q = self.sigma.add(step.clean, step.adv)
        if self.sigma_w is not None and w is not None:
            self.sigma_w.add(q, w)
        if self.gauss is not None and noise_adv is not None:
            self.gauss.add(step.clean, noise_adv["gauss"])
        if self.noise is not None and noise_adv is not None:
            q_noise = self.noise.add(step.clean, noise_adv["sign"])
            if self.noise_w is not None and w is not None:
                self.noise_w.add(q_noise, w)
        return q

    def merge(self, other: "EpsMeasures") -> "EpsMeasures":
        for name in ("sigma", "noise", "sigma_w", "noise_w", "gauss"):
            if getattr(self, name) is not None:
                getattr(self, name).merge(getattr(other, name))
        return self


class ScaleMeter:
    """Each channel's clean activation size, mean |F(x)| (plain and weighted sums)."""

    def __init__(self, weighted: bool):
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.weighted = WeightedSums() if weighted else None

    def add(self, clean: dict[str, torch.Tensor], w: torch.Tensor | None) -> None:
        q = channel_scale(clean)
        for name, values in q.items():
            part = values.sum(0).double().cpu()
            self.sums[name] = self.sums[name] + part if name in self.sums else part
        self.count += len(next(iter(q.values()))) if q else 0
        if self.weighted is not None and w is not None:
            self.weighted.add(q, w)

    def merge(self, other: "ScaleMeter") -> "ScaleMeter":
        for name, part in other.sums.items():
            self.sums[name] = self.sums[name] + part if name in self.sums else part
        self.count += other.count
        if self.weighted is not None and other.weighted is not None:
            self.weighted.merge(other.weighted)
        return self

    def channels(self) -> dict[str, torch.Tensor]:
        return {name: s / max(self.count, 1) for name, s in self.sums.items()}


def merged(parts: Sequence):
    """A copy of the first accumulator with the others merged in, in order; ``parts`` are left
    unchanged. The one way shards (or ranks) of any accumulator with ``merge`` become the whole's."""
    whole = copy.deepcopy(parts[0])
    for p in parts[1:]:
        whole.merge(p)
    return whole
