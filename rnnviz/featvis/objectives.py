"""What the optimizer raises: lucent objectives per batch element, and the same numbers measured.

Each batch element maximizes its own (layer, channel), so one optimization serves many channels;
lucent has no helper for that, but its ``channel(..., batch=i)`` objectives sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from lucent.optvis import objectives

DIVERSITY_WEIGHT = 1e2  # lucent README: channel - 1e2 * diversity


@dataclass(frozen=True)
class Element:
    """One image being optimized: which channel it maximizes, and its own seed."""

    layer: str
    channel: int
    seed: int


def objective(elements: list[Element], diverse: bool) -> objectives.Objective:
    """Each element maximizes its own channel; a diversity batch (one channel throughout) uses
    lucent's README objective, the batch-mean channel minus the weighted diversity term."""
    if diverse:
        el = elements[0]
        return objectives.channel(el.layer, el.channel) - DIVERSITY_WEIGHT * objectives.diversity(el.layer)
    return objectives.Objective.sum(
        [objectives.channel(el.layer, el.channel, batch=i) for i, el in enumerate(elements)]
    )


def channel_means(feats: dict, elements: list[Element]) -> torch.Tensor:
    """Each element's activation: the spatial mean of its channel map (what objectives.channel raises).

    Not ``rnnviz.hooks.channel_mean``: its batched ``flatten(2).mean(2)`` over channels-last maps
    sums in another order, so losses and start activations would change in the last bit (checked
    on fashion-standard: 30+ of 64 losses per channel differ) and old cache entries would disagree.
    Indexing first reduces exactly the slice lucent's ``objectives.channel`` reduces.
    """
    return torch.stack([feats[el.layer][i, el.channel].mean() for i, el in enumerate(elements)]).detach()
