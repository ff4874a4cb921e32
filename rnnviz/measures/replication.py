"""Does a finding replicate across training seeds? The matched overlap of two runs' top-k (issue 28).

Two trainings of one model differ only by their seed, yet channel 116 of one means nothing to channel
116 of the other (any permutation of a layer's channels gives the same network). So the top-k of the
first model is carried into the second through the same one-to-one matching as between the robust
and the standard model (``rnnviz.measures.matching.LayerMatch``: Hungarian pairing by correlation of
spatially averaged clean activations on the same images), and only then compared with the second
model's own top-k by Jaccard overlap. The raw overlap of channel numbers is kept beside it as the
reference that matching is needed for.

In the ``CrossStats`` given here the role "standard" holds the first model and "robust" the second:
the roles only name the two sides of the sums.
"""

from __future__ import annotations

import math

import numpy as np

from rnnviz.measures.matching import LayerMatch
from rnnviz.measures.ranking import jaccard
from rnnviz.sweep.cross import CrossStats

Channel = tuple[str, int]


def top_channels(summary: dict) -> list[Channel]:
    """(layer, channel) of a ranking summary's top-k, in rank order."""
    return [(row["layer"], row["channel"]) for row in summary["top"]]


def carried(matches: dict[str, LayerMatch], top: list[Channel]) -> list[dict]:
    """Each channel of the first model's ``top`` with its partner in the second model (None where the
    second model's layer is narrower), the pair's r and whether it beats the shuffled baseline."""
    rows = []
    for layer, channel in top:
        partner, r, _, _ = matches[layer].pair("standard", channel)
        rows.append(
            {
                "layer": layer,
                "channel": channel,
                "partner": partner if partner >= 0 else None,
                "r": r,
                "real": matches[layer].real(r),
            }
        )
    return rows


def chance_overlap(widths: dict[str, int], first: list[Channel], second: list[Channel]) -> dict:
    """What the matched Jaccard would be by chance: ``second`` drawn at random within its own layers
    (the same count per layer), against ``first``. Per layer the shared count is hypergeometric
    (``first``'s count among the layer's width, ``second``'s count drawn); the layers' counts add up by
    convolution. Returns the expected Jaccard and the distribution's Jaccard values with their
    probabilities, so ``p_at_least`` can read how often chance reaches an observed overlap."""
    total = np.array([1.0])
    for layer in dict.fromkeys([c[0] for c in first + second]):
        a, b = (sum(c[0] == layer for c in s) for s in (first, second))
        width = widths[layer]
        shared = np.array([_hypergeometric(width, a, b, o) for o in range(min(a, b) + 1)])
        total = np.convolve(total, shared)
    size = len(set(first)) + len(set(second))
    values = [o / (size - o) if size - o > 0 else 1.0 for o in range(len(total))]
    return {"expected": float(np.dot(values, total)), "values": values, "probabilities": total.tolist()}


def p_at_least(chance: dict, observed: float) -> float:
    """The chance of a Jaccard at least ``observed`` under ``chance_overlap``'s distribution."""
    return float(sum(p for v, p in zip(chance["values"], chance["probabilities"]) if v >= observed - 1e-12))


def _hypergeometric(width: int, marked: int, drawn: int, hits: int) -> float:
    """P(``hits`` of ``drawn`` channels fall among ``marked`` of ``width``), drawing without replacement."""
    if hits > marked or drawn - hits > width - marked:
        return 0.0
    return math.comb(marked, hits) * math.comb(width - marked, drawn - hits) / math.comb(width, drawn)


def matched_overlap(matches: dict[str, LayerMatch], first: list[Channel], second: list[Channel]) -> dict:
    """Jaccard of the second model's top-k with the first's top-k carried over by the matching, and the
    raw Jaccard of channel numbers (no matching); ``mapped`` lists each carried channel. ``chance``:
    the Jaccard a random draw of the second model's top-k (same layer counts) gives, and ``p_chance``
    how often chance reaches the observed one."""
    rows = carried(matches, first)
    mapped = [(row["layer"], row["partner"]) for row in rows if row["partner"] is not None]
    widths = {layer: int(m.corr.shape[1]) for layer, m in matches.items()}
    found = jaccard(mapped, second)
    chance = chance_overlap(widths, mapped, second)
    return {
        "k": len(first),
        "matched_jaccard": found,
        "chance_jaccard": chance["expected"],
        "p_chance": p_at_least(chance, found),
        "raw_jaccard": jaccard(first, second),
        "n_real": sum(row["real"] for row in rows),
        "mapped": rows,
        "second_top": [{"layer": layer, "channel": channel} for layer, channel in second],
    }


def seed_overlap(stats: CrossStats, first: list[dict | None], second: list[dict | None]) -> list[dict | None]:
    """Per eps, ``matched_overlap`` of two rankings (lists of per-eps summaries, None where nothing is
    ranked) through the matching of ``stats``' layers."""
    matches = {layer: LayerMatch(stats, layer) for layer in stats.layers}
    return [
        matched_overlap(matches, top_channels(a), top_channels(b)) if a and b else None for a, b in zip(first, second)
    ]
