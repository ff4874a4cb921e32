"""Per-image weights for streamed resampling, and the weighted sums they feed.

Every uncertainty rnnviz reports comes from sums of per-image quantities q_i (N, C) weighted by
a per-image matrix W (N, K): K columns of Poisson(1) bootstrap weights (Hanley & MacGibbon; the
streaming equivalent of resampling N images with replacement), one indicator per class, and one
indicator per nested random subset (10/25/50% of the images). A column's weighted mean is
``sum_i W_ik q_i / sum_i W_ik``. Weights depend only on the seed and an image's global index, so
any batching, order or sharding gives the same resamples, and sums merge exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

SUBSET_FRACTIONS = (0.1, 0.25, 0.5)  # nested random subsets for "has the ranking settled?"
_BOOTSTRAP_STREAM, _SUBSET_STREAM = 1, 2  # independent random streams per image


@dataclass(frozen=True)
class ImageWeights:
    """The columns of W: ``bootstrap`` resamples, then one per class, then one per subset."""

    bootstrap: int
    classes: tuple[int, ...]  # label-set indices, in report order
    seed: int = 0

    @property
    def width(self) -> int:
        return self.bootstrap + len(self.classes) + len(SUBSET_FRACTIONS)

    def columns(self, group: str) -> slice:
        b, c = self.bootstrap, len(self.classes)
        return {
            "bootstrap": slice(0, b),
            "classes": slice(b, b + c),
            "subsets": slice(b + c, b + c + len(SUBSET_FRACTIONS)),
        }[group]

    def of(self, indices: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """W for the images with these global ``indices`` and true ``labels`` -> (n, width) float64."""
        rows = [self._row(int(i), int(y)) for i, y in zip(indices.tolist(), labels.tolist())]
        return torch.from_numpy(np.stack(rows)) if rows else torch.zeros(0, self.width, dtype=torch.float64)

    def _row(self, index: int, label: int) -> np.ndarray:
        poisson = np.random.default_rng([self.seed, _BOOTSTRAP_STREAM, index]).poisson(1.0, self.bootstrap)
        u = image_uniform(self.seed, index)
        one_hot = [float(label == c) for c in self.classes]
        subsets = [float(u < f) for f in SUBSET_FRACTIONS]
        return np.concatenate([poisson.astype(np.float64), one_hot, subsets])


def image_uniform(seed: int, index: int) -> float:
    """A uniform draw that belongs to one image: it decides the image's random subsets."""
    return float(np.random.default_rng([seed, _SUBSET_STREAM, index]).random())


class WeightedSums:
    """Running ``W^T q`` per layer and ``W^T 1``: every column's weighted sum of a per-image quantity."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}  # layer -> (K, C) float64
        self.totals: torch.Tensor | None = None  # (K,) float64

    def add(self, q: dict[str, torch.Tensor], w: torch.Tensor) -> None:
        """``q``: layer -> (n, C) per-image values; ``w``: (n, K) weights of the same images."""
        for name, values in q.items():  # the product on the values' device: on a GPU, not on the host
            part = (w.to(values.device).T @ values.double()).cpu()
            self.sums[name] = self.sums[name] + part if name in self.sums else part
        total = w.sum(0)
        self.totals = total if self.totals is None else self.totals + total

    def merge(self, other: "WeightedSums") -> "WeightedSums":
        if other.totals is None:
            return self
        for name, part in other.sums.items():
            self.sums[name] = self.sums[name] + part if name in self.sums else part
        self.totals = other.totals.clone() if self.totals is None else self.totals + other.totals
        return self

    def means(self, columns: slice) -> dict[str, torch.Tensor]:
        """Per layer, each column's weighted mean -> (k, C); a column with no weight gives NaN."""
        assert self.totals is not None, "no images were added"
        totals = self.totals[columns]
        return {name: s[columns] / totals[:, None] for name, s in self.sums.items()}


def interval(samples: torch.Tensor, level: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Percentile interval over the first dimension (resamples), ignoring NaN resamples."""
    tail = (1 - level) / 2
    q = torch.tensor([tail, 1 - tail], dtype=samples.dtype)
    lo, hi = torch.nanquantile(samples, q, dim=0)
    return lo, hi
