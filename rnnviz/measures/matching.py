"""results.json's ``matching``: which channel of the other model each top-ranked channel matches, and
how sensitive that counterpart is there (issue 28).

Per layer the two models' channels are paired one to one by the largest total correlation of their
spatially averaged clean activations (``similarity.assignment``); a pair is "real" when its r
exceeds the 99th percentile of |r| under the shuffled pairing of images. For every model's top-k
channel at every attacked eps the entry names its partner, the partner's r, the partner's
sensitivity σ and its rank in the other model's ranking at the same eps (1 = most sensitive).

A CKA alone does not say whether two layers are alike: two networks of one architecture share much
with no training at all. ``baselines`` puts each layer's standard-vs-robust CKA beside what the
trained models give against a randomly initialised copy of their architecture and, with a second
training seed, what one model gives against itself retrained; each also with the class means removed.
"""

from __future__ import annotations

import numpy as np

from rnnviz.measures.ranking import EpsRanking
from rnnviz.measures.similarity import (
    BASELINE_QUANTILE,
    assignment,
    baseline_correlation,
    cka,
    cka_matrix,
    correlation,
    threshold,
)
from rnnviz.sweep.analysis import ModelAnalysis
from rnnviz.sweep.cross import CrossStats

FEATURES = "spatial mean of each channel's clean activation, one value per image"
OTHER = {"standard": "robust", "robust": "standard"}
# what each column of ``baselines`` compares: the run's pair, then its baselines
PAIRS = {
    "pair": "standard vs robust",
    "random_standard": "standard vs a randomly initialised copy of its architecture",
    "random_robust": "robust vs a randomly initialised copy of its architecture",
    "seed_standard": "standard vs the standard model of the second training seed",
    "seed_robust": "robust vs the robust model of the second training seed",
}
RANDOM = (
    "the trained model's architecture (its build arguments) freshly initialised under torch.manual_seed(the run's "
    "seed), with the trained model's input preprocessing"
)
CLASS_REMOVED = "each image's features minus its class's mean before the covariances (from per-class sums)"


class LayerMatch:
    """One layer's correlations, one-to-one pairing and baseline threshold."""

    def __init__(self, stats: CrossStats, layer: str):
        self.corr = correlation(stats, layer)
        self.partner = assignment(self.corr)
        self.threshold = threshold(baseline_correlation(stats, layer))
        self.inverse = np.full(self.corr.shape[1], -1, dtype=np.int64)
        paired = self.partner >= 0
        self.inverse[self.partner[paired]] = np.flatnonzero(paired)

    def pair(self, role: str, channel: int) -> tuple[int, float | None, int, float]:
        """(partner, its r, the channel of largest r, that r) of ``channel`` of model ``role``."""
        row = self.corr[channel] if role == "standard" else self.corr[:, channel]
        partner = int((self.partner if role == "standard" else self.inverse)[channel])
        best = int(np.argmax(row))
        return partner, (float(row[partner]) if partner >= 0 else None), best, float(row[best])

    def real(self, r: float | None) -> bool:
        return r is not None and self.threshold is not None and r > self.threshold

    def summary(self) -> dict:
        has = self.partner >= 0
        r = self.corr[np.flatnonzero(has), self.partner[has]]
        return {
            "channels": list(self.corr.shape),
            "threshold": self.threshold,
            "partner": self.partner.tolist(),
            "r": r.tolist(),
            "n_real": int(sum(self.real(float(v)) for v in r)),
            "median_r": float(np.median(r)) if len(r) else None,
        }


def partner_channels(matching: dict | None) -> list[tuple[str, int]]:
    """The robust channels matched to the standard model's top-k at any ε (results.json's ``matching``),
    in order of first appearance: what the matched-pairs gallery shows on its right."""
    seen: dict[tuple[str, int], None] = {}
    for rows in (matching or {}).get("top", {}).get("standard", []):
        for x in rows or []:
            if x["partner"] is not None:
                seen.setdefault((x["layer"], int(x["partner"])), None)
    return list(seen)


def ranks(ranking: EpsRanking) -> dict[tuple[str, int], tuple[int, float]]:
    """(layer, channel) -> (1-based rank by the ranking's measure, σ), ties by position as ``top_indices``."""
    values, keys = ranking.scores()
    v = values.double().numpy()
    order = np.lexsort((np.arange(len(v)), -v))
    place = np.empty(len(v), dtype=np.int64)
    place[order] = np.arange(1, len(v) + 1)
    return {key: (int(place[j]), float(ranking.sigma[key[0]][key[1]])) for j, key in enumerate(keys)}


def _entry(row: dict, place: int, match: LayerMatch, role: str, there: dict) -> dict:
    partner, r, best, best_r = match.pair(role, row["channel"])
    rank, sigma = there.get((row["layer"], partner), (None, None))
    own = row["sensitivity"]
    return {
        "layer": row["layer"],
        "channel": row["channel"],
        "rank": place,
        "sensitivity": own,
        "partner": partner if partner >= 0 else None,
        "r": r,
        "real": match.real(r),
        "best": best,
        "best_r": best_r,
        "partner_rank": rank,
        "partner_sensitivity": sigma,
        "sensitivity_ratio": (sigma / own) if sigma is not None and own else None,
    }


def baselines(stats: CrossStats, seeds: dict[str, CrossStats] | None, seed: int) -> dict:
    """Per layer, the CKA of the run's pair with the same layer of the other model beside its baselines
    (``PAIRS``; None where not measured), as computed and with the class means removed. ``seeds``: model kind
    -> the run's model (role "standard") against the second seed's (role "robust"); ``seed``: the random
    copies' seed."""
    sources = {"pair": stats, **stats.baselines, **{f"seed_{m}": s for m, s in (seeds or {}).items()}}

    def row(layer: str, class_removed: bool) -> dict:
        return {k: cka(sources[k], layer, layer, class_removed) if k in sources else None for k in PAIRS}

    return {
        "pairs": PAIRS,
        "random": RANDOM,
        "random_seed": seed,
        "class_removed": CLASS_REMOVED,
        "layers": [{"layer": la, "cka": row(la, False), "class_removed": row(la, True)} for la in stats.layers],
    }


def matching_results(
    stats: CrossStats | None,
    analyses: dict[str, ModelAnalysis],
    ranking: dict,
    seeds: dict[str, CrossStats] | None = None,
    seed: int = 0,
) -> dict | None:
    """The ``matching`` entry of results.json from the merged cross statistics, each model's analysis
    and results.json's ``ranking`` (model -> per-eps summaries, None at eps 0); None without statistics.
    ``seeds`` and ``seed`` as ``baselines`` takes them."""
    if stats is None:
        return None
    layers = {layer: LayerMatch(stats, layer) for layer in stats.layers}
    top: dict[str, list] = {m: [] for m in OTHER}
    for m, other in OTHER.items():
        for e, summary in enumerate(ranking[m]):
            there_summary = ranking[other][e]
            if not summary or not there_summary:
                top[m].append(None)
                continue
            there = ranks(EpsRanking(analyses[other], e, there_summary["measure"]))
            top[m].append(
                [_entry(row, p, layers[row["layer"]], m, there) for p, row in enumerate(summary["top"], start=1)]
            )
    return {
        "features": FEATURES,
        "n_images": stats.n,
        "n_baseline": stats.n_shuffled,
        "baseline": "each image paired with its neighbour (global index i with i xor 1)",
        "quantile": BASELINE_QUANTILE,
        "layers": list(stats.layers),
        "cka": cka_matrix(stats),
        "baselines": baselines(stats, seeds, seed),
        "per_layer": {layer: match.summary() for layer, match in layers.items()},
        "top": top,
    }
