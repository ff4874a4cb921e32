"""What the optimizer raises: lucent objectives per batch element, and the same numbers measured.

Each batch element maximizes its own (layer, channel), so one optimization serves many channels;
lucent has no helper for that, but its ``channel(..., batch=i)`` objectives sum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from lucent.optvis import objectives

DIVERSITY_WEIGHT = 1e2  # lucent README: channel - 1e2 * diversity
# accent: activation (in units of the seed image's own) minus PULL x mean squared pixel distance to
# the seed image; see ``accent``.
ACCENT_PULL = 10.0
# What "a channel's activation" means to the optimizer and to every number measured on a render:
# ``channel`` is the spatial mean of its map (lucent's ``objectives.channel``, what the best real
# image is compared with); ``neuron`` is its value at the map's centre (lucent's ``objectives.neuron``),
# one receptive field, so the render shows one instance of the pattern rather than a tiling of it.
OBJECTIVES = ("channel", "neuron")


@dataclass(frozen=True)
class Element:
    """One image being optimized: which channel it maximizes, and its own seed."""

    layer: str
    channel: int
    seed: int


def objective(elements: list[Element], diverse: bool, kind: str = "channel") -> objectives.Objective:
    """Each element maximizes its own channel (or its centre neuron, ``kind="neuron"``); a diversity
    batch (one channel throughout) uses lucent's README objective, the batch mean minus the
    weighted diversity term."""
    raise_ = objectives.neuron if kind == "neuron" else objectives.channel
    if diverse:
        el = elements[0]
        return raise_(el.layer, el.channel) - DIVERSITY_WEIGHT * objectives.diversity(el.layer)
    return objectives.Objective.sum([raise_(el.layer, el.channel, batch=i) for i, el in enumerate(elements)])


def accent(
    elements: list[Element], seed_acts: list[float], seeds: torch.Tensor, pull: float = ACCENT_PULL
) -> Callable[[dict, torch.Tensor], torch.Tensor]:
    """Feature accentuation (Hamblin et al. 2024): each element maximizes its channel's mean
    activation divided by the seed image's own, minus ``pull`` times the mean squared pixel
    distance (over channels and pixels, images in [0, 1]) between the image and its seed.

    Dividing by the seed's activation makes one ``pull`` mean the same for every channel,
    whatever its scale: at the default, raising the channel by 10% of its best real image is
    worth an RMS pixel change of 0.1. A seed whose activation is about 0 is not divided by.
    Returns ``loss(feats, image)``; ``image`` is the batch before any transform.
    """
    raise_ = objectives.Objective.sum(
        [
            (1.0 / scale(act)) * objectives.channel(el.layer, el.channel, batch=i)
            for i, (el, act) in enumerate(zip(elements, seed_acts))
        ]
    )

    def loss(feats: dict, image: torch.Tensor) -> torch.Tensor:
        return raise_(feats.__getitem__) + pull * (image - seeds).square().mean(dim=(1, 2, 3)).sum()

    return loss


def scale(act: float) -> float:
    """The seed's activation as the channel's unit; 1 where it is about 0 (nothing to divide by)."""
    return abs(act) if abs(act) > 1e-6 else 1.0


def measure(feats: dict, elements: list[Element], kind: str = "channel") -> torch.Tensor:
    """Each element's activation as its objective ``kind`` raises it (see ``OBJECTIVES``)."""
    if kind == "neuron":
        return torch.stack([centre(feats[el.layer][i, el.channel]) for i, el in enumerate(elements)]).detach()
    return channel_means(feats, elements)


def centre(fmap: torch.Tensor) -> torch.Tensor:
    """The map's centre value, the neuron lucent's ``objectives.neuron`` picks (bottom right of
    the central 2x2 for even sizes)."""
    h, w = fmap.shape[-2:]
    return fmap[..., h // 2, w // 2]


def channel_means(feats: dict, elements: list[Element]) -> torch.Tensor:
    """Each element's activation: the spatial mean of its channel map (what objectives.channel raises).

    Not ``rnnviz.sweep.hooks.channel_mean``: its batched ``flatten(2).mean(2)`` over channels-last maps
    sums in another order, so losses and start activations would change in the last bit (checked
    on fashion-standard: 30+ of 64 losses per channel differ) and old cache entries would disagree.
    Indexing first reduces exactly the slice lucent's ``objectives.channel`` reduces.
    """
    return torch.stack([feats[el.layer][i, el.channel].mean() for i, el in enumerate(elements)]).detach()
