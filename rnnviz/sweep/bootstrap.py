"""Per-image weights for streamed resampling, and the weighted sums they feed.

Every uncertainty rnnviz reports comes from sums of per-image quantities q_i (N, C) weighted by
a per-image matrix W (N, K): K columns of Poisson(1) bootstrap weights (Hanley & MacGibbon; the
streaming equivalent of resampling N images with replacement), one indicator per class, and one
indicator per random subset (10/25/50% of the images, nested, drawn ``SUBSET_DRAWS`` times). A column's weighted mean is
``sum_i W_ik q_i / sum_i W_ik``. Weights depend only on the seed and an image's global index, so
any batching, order or sharding gives the same resamples, and sums merge exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnviz.common.names import SUBSET_FRACTIONS
from rnnviz.sweep import draws

SUBSET_DRAWS = 5  # independent subsets per fraction: one subset's luck is not the ranking's convergence
_BOOTSTRAP_STREAM, _SUBSET_STREAM = 1, 2  # independent random streams per image


@dataclass(frozen=True)
class ImageWeights:
    """The columns of W: ``bootstrap`` resamples, then one per class, then the subsets (draw-major:
    draw d's fractions at ``d * len(SUBSET_FRACTIONS) + f``; each draw's subsets are nested)."""

    bootstrap: int
    classes: tuple[int, ...]  # label-set indices, in report order
    seed: int = 0

    @property
    def width(self) -> int:
        return self.bootstrap + len(self.classes) + SUBSET_DRAWS * len(SUBSET_FRACTIONS)

    def columns(self, group: str) -> slice:
        b, c = self.bootstrap, len(self.classes)
        return {
            "bootstrap": slice(0, b),
            "classes": slice(b, b + c),
            "subsets": slice(b + c, b + c + SUBSET_DRAWS * len(SUBSET_FRACTIONS)),
        }[group]

    def of(self, indices: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """W for the images with these global ``indices`` and true ``labels`` -> (n, width) float64,
        computed for the whole batch at once on ``indices``' device (``rnnviz.sweep.draws``)."""
        poisson = draws.poisson1(self.seed, _BOOTSTRAP_STREAM, indices, self.bootstrap)
        classes = torch.tensor(self.classes, dtype=torch.int64, device=indices.device)
        one_hot = (labels.to(indices.device).reshape(-1, 1) == classes).to(torch.float64)
        fractions = torch.tensor(SUBSET_FRACTIONS, dtype=torch.float64, device=indices.device)
        u = draws.uniform(self.seed, _SUBSET_STREAM, indices, SUBSET_DRAWS)  # draw 0 is image_uniform
        subsets = (u[:, :, None] < fractions).flatten(1).to(torch.float64)
        return torch.cat([poisson, one_hot, subsets], dim=1)


def image_uniform(seed: int, indices: torch.Tensor) -> torch.Tensor:
    """(n,) uniform draws, one per image: the first draw of each image's random subsets (and the
    patched share of the images)."""
    return draws.uniform(seed, _SUBSET_STREAM, indices, 1)[:, 0]


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
