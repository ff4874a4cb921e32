"""Does the sensitive set depend on the attack? Top-k overlap and rank correlation between conditions.

A condition is one (attack, eps) of one model, the noise baseline counting as an attack. Two
conditions agree "within noise" when their top-k Jaccard reaches what resampling the images
alone gives (each condition's bootstrap expected Jaccard with itself).
"""

from __future__ import annotations

import numpy as np
import torch

from rnnviz.common.names import channel_key
from rnnviz.measures.ranking import EpsRanking, jaccard, top_indices
from rnnviz.sweep.analysis import ModelAnalysis

NOISE = "noise"


class NoiseRanking(EpsRanking):
    """The noise baseline ranked like an attack: its own sigma, its own resamples."""

    def __init__(self, analysis: ModelAnalysis, e: int):
        super().__init__(analysis, e, "sigma")
        assert self.noise is not None, "the sweep measured no noise baseline"
        self.point = self.noise

    def _samples(self, group: str):
        weights = self.a.weights
        if weights is None or self.m.noise_w is None:
            return None
        cols = weights.columns(group)
        return None if cols.stop == cols.start else self.m.noise_w.means(cols)


def conditions(by_attack: dict[str, ModelAnalysis], rank_by: str) -> list[tuple[dict, EpsRanking]]:
    """Every (attack, non-zero eps) of one model, then the noise baseline at each eps (if measured)."""
    first = next(iter(by_attack.values()))
    out = [
        ({"attack": name, "eps": eps, "eps_index": e}, EpsRanking(a, e, rank_by))
        for name, a in by_attack.items()
        for e, eps in enumerate(a.eps)
        if eps > 0
    ]
    out += [
        ({"attack": NOISE, "eps": eps, "eps_index": e}, NoiseRanking(first, e))
        for e, eps in enumerate(first.eps)
        if eps > 0 and first.measures[e].noise is not None
    ]
    return out


def ranks(values: torch.Tensor) -> np.ndarray:
    """0-based ranks, ties sharing their average rank (what Spearman's correlation needs)."""
    _, inverse, counts = np.unique(values.double().numpy(), return_inverse=True, return_counts=True)
    return (np.cumsum(counts) - (counts + 1) / 2)[inverse]


def spearman(ra: np.ndarray, rb: np.ndarray) -> float:
    """Pearson correlation of two rank vectors; 0 where either is constant."""
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = float(np.sqrt((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


def overlap(by_attack: dict[str, ModelAnalysis], rank_by: str, k: int) -> dict:
    """The JSON of results.attacks.overlap[model]: conditions, Jaccard and Spearman matrices, references."""
    conds = conditions(by_attack, rank_by)
    scores = [r.scores()[0] for _, r in conds]
    tops = [top_indices(v, k) for v in scores]
    rank = [ranks(v) for v in scores]
    n = len(conds)
    return {
        "conditions": [c for c, _ in conds],
        "jaccard": [[jaccard(tops[i], tops[j]) for j in range(n)] for i in range(n)],
        "spearman": [[1.0 if i == j else spearman(rank[i], rank[j]) for j in range(n)] for i in range(n)],
        "expected_jaccard": [r.expected_jaccard(k) for _, r in conds],
    }


def top_keys(ranking: EpsRanking, k: int) -> list[str]:
    """The top-k of one condition as results.json keys ("layer:ch")."""
    values, keys = ranking.scores()
    return [channel_key(*keys[j]) for j in top_indices(values, k)]
