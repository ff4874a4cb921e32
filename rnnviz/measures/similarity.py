"""Correlation, one-to-one matching and linear CKA between two networks' layers, from the sums of a
``rnnviz.sweep.cross.CrossStats`` (issue 28).

Everything is centred from running means: with n images, Σxyᵀ − (Σx)(Σy)ᵀ / n is the centred
cross-covariance XᵀY of the features (spatial means per channel) without storing X or Y. Linear
CKA (Kornblith et al. 2019) is ||XᵀY||_F² / (||XᵀX||_F ||YᵀY||_F) of the centred features: 1 for
two layers that differ by an orthogonal transform and a scale (a permutation of channels included).
A channel constant over the images has no correlation with anything: its r is 0.

``class_removed``: each image's features minus its class's mean (the class means from the per-class
sums), so what both layers share only because both tell the classes apart drops out. With classes k
of n_k images and per-class sums S_k: XᵀY = Σxyᵀ − Σ_k S_kx S_kyᵀ / n_k, still from sums alone.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from rnnviz.sweep.cross import CrossStats

BASELINE_QUANTILE = 0.99  # a match is real if its r exceeds this quantile of the shuffled |r|


def _centred(cross: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor, n: int) -> torch.Tensor:
    return cross - torch.outer(sx, sy) / n


def _class_centred(stats: CrossStats, raw: torch.Tensor, x: tuple[str, str], y: tuple[str, str]) -> torch.Tensor:
    """``raw`` (a Σ x yᵀ) centred on each image's class mean: x and y are (role, layer)."""
    out = raw.clone()
    for label, n in stats.class_n.items():
        sx, sy = stats.class_sums[x[0]][(x[1], label)], stats.class_sums[y[0]][(y[1], label)]
        out -= torch.outer(sx, sy) / n
    return out


def has_classes(stats: CrossStats) -> bool:
    """Whether the sums carry class labels for every image (the class-mean-removed CKA needs them)."""
    return bool(stats.class_n) and sum(stats.class_n.values()) == stats.n


def centred_gram(stats: CrossStats, role: str, layer: str, class_removed: bool = False) -> torch.Tensor:
    """XᵀX of one model's centred features at ``layer`` (C × C)."""
    if class_removed:
        return _class_centred(stats, stats.grams[role][layer], (role, layer), (role, layer))
    s = stats.sums[role][layer]
    return _centred(stats.grams[role][layer], s, s, stats.n)


def centred_cross(
    stats: CrossStats, standard_layer: str, robust_layer: str, class_removed: bool = False
) -> torch.Tensor:
    """XᵀY of the centred features: standard ``standard_layer`` × robust ``robust_layer``."""
    raw = stats.cross[(standard_layer, robust_layer)]
    if class_removed:
        return _class_centred(stats, raw, ("standard", standard_layer), ("robust", robust_layer))
    sx, sy = stats.sums["standard"][standard_layer], stats.sums["robust"][robust_layer]
    return _centred(raw, sx, sy, stats.n)


def _correlate(cov: torch.Tensor, var_x: torch.Tensor, var_y: torch.Tensor) -> np.ndarray:
    scale = torch.outer(var_x.clamp(min=0), var_y.clamp(min=0)).sqrt()
    r = torch.where(scale > 0, cov / scale.clamp(min=1e-300), torch.zeros_like(cov))
    return r.clamp(-1.0, 1.0).numpy()


def correlation(stats: CrossStats, standard_layer: str, robust_layer: str | None = None) -> np.ndarray:
    """Pearson r of every standard channel with every robust channel (C_s × C_r) over the images."""
    robust_layer = robust_layer or standard_layer
    var_x = torch.diagonal(centred_gram(stats, "standard", standard_layer))
    var_y = torch.diagonal(centred_gram(stats, "robust", robust_layer))
    return _correlate(centred_cross(stats, standard_layer, robust_layer), var_x, var_y)


def baseline_correlation(stats: CrossStats, layer: str) -> np.ndarray | None:
    """Pearson r of x_i with y_π(i) (each image paired with another), over the paired images:
    what correlation two unrelated inputs give. None with fewer than three pairs' worth of images."""
    n = stats.n_shuffled
    if n < 3 or layer not in stats.shuffled:
        return None
    left = stats.unpaired()
    sides = []
    for role, rows in zip(("standard", "robust"), left):
        u = rows[layer]
        s = stats.sums[role][layer] - (u.sum(0) if len(u) else 0)
        sq = torch.diagonal(stats.grams[role][layer]) - ((u * u).sum(0) if len(u) else 0)
        sides.append((s, sq - s * s / n))
    (sx, var_x), (sy, var_y) = sides
    return _correlate(_centred(stats.shuffled[layer], sx, sy, n), var_x, var_y)


def threshold(baseline: np.ndarray | None, quantile: float = BASELINE_QUANTILE) -> float | None:
    """The ``quantile`` of |r| over every channel pair of the shuffled pairing."""
    return None if baseline is None else float(np.quantile(np.abs(baseline), quantile))


def cka(stats: CrossStats, standard_layer: str, robust_layer: str, class_removed: bool = False) -> float | None:
    """Linear CKA of the two layers' centred features; None when either layer is constant (or,
    ``class_removed``, when the sums have no class labels)."""
    if class_removed and not has_classes(stats):
        return None
    xy = centred_cross(stats, standard_layer, robust_layer, class_removed)
    xx = centred_gram(stats, "standard", standard_layer, class_removed)
    yy = centred_gram(stats, "robust", robust_layer, class_removed)
    denominator = float(torch.linalg.matrix_norm(xx) * torch.linalg.matrix_norm(yy))
    if denominator <= 0:
        return None
    return float(torch.linalg.matrix_norm(xy) ** 2) / denominator


def cka_matrix(stats: CrossStats) -> list[list[float | None]]:
    """CKA of every standard layer (rows) with every robust layer (columns)."""
    return [[cka(stats, ls, lr) for lr in stats.layers] for ls in stats.layers]


def assignment(corr: np.ndarray) -> np.ndarray:
    """The one-to-one pairing of channels with the largest total correlation (Hungarian method):
    partner[i] = the robust channel of standard channel i, -1 where the other layer has fewer channels."""
    rows, cols = linear_sum_assignment(corr, maximize=True)
    partner = np.full(corr.shape[0], -1, dtype=np.int64)
    partner[rows] = cols
    return partner
