"""What a channel ranking ranks by, and how much of it is just the channel's size.

sigma (Zhang et al.) is a mean absolute change of the activation, so it grows with the activation
itself: a big channel moves a lot under any perturbation. The measures here remove that in two
ways, separately or together: subtract what matched random noise already does (``excess``) and
divide by the channel's clean mean |F| (``relative``). ``relative-excess`` does both: the change only
the attack causes, in units of the channel's own size, so channels of layers of different scale
and width compete on one footing. ``zscore`` standardises excess within each layer. ``spearman``
gives the rank correlation of sigma with clean |F| (the magnitude confound) per layer.
"""

from __future__ import annotations

import torch

from rnnviz.common.names import RANK_BY

NEEDS_NOISE = ("relative-excess", "excess", "zscore")
SCALE_FLOOR = 1e-3  # a channel below this share of its layer's mean |F| is treated as silent (no ratio)


def values(
    name: str, sigma: dict[str, torch.Tensor], noise: dict[str, torch.Tensor] | None, scale: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Layer -> the ranking measure ``name`` per channel (last dim); works on (C,) and (B, C) alike."""
    if name in NEEDS_NOISE and noise is None:
        raise ValueError(f"ranking by {name} needs the noise baseline")
    out = {}
    for layer, s in sigma.items():
        excess = s - noise[layer] if noise is not None else s
        if name == "sigma":
            out[layer] = s
        elif name == "excess":
            out[layer] = excess
        elif name in ("relative", "relative-excess"):
            out[layer] = _ratio(s if name == "relative" else excess, scale[layer])
        elif name == "zscore":
            std = excess.std(-1, keepdim=True)
            out[layer] = (excess - excess.mean(-1, keepdim=True)) / torch.where(std > 0, std, torch.ones_like(std))
        else:
            raise ValueError(f"unknown ranking measure {name!r}; expected one of {', '.join(RANK_BY)}")
    return out


def _ratio(part: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """part / scale, 0 where the channel is silent (scale under SCALE_FLOOR of its layer's mean)."""
    floor = SCALE_FLOOR * scale.mean(-1, keepdim=True)
    alive = scale > floor
    return torch.where(alive, part / torch.where(alive, scale, torch.ones_like(scale)), torch.zeros_like(part))


def ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n of a 1-d tensor, ties given their mean rank (as Spearman's rho needs)."""
    x = x.double()
    order = torch.argsort(x, stable=True)
    r = torch.empty_like(x)
    r[order] = torch.arange(1, len(x) + 1, dtype=torch.float64)
    for v in torch.unique(x):
        tied = x == v
        if int(tied.sum()) > 1:
            r[tied] = r[tied].mean()
    return r


def spearman(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """Spearman's rank correlation (Pearson's of the ranks); None with fewer than 3 values or no spread."""
    if len(a) < 3:
        return None
    ra, rb = ranks(a) - (len(a) + 1) / 2, ranks(b) - (len(b) + 1) / 2
    den = float(ra.norm() * rb.norm())
    return float((ra * rb).sum()) / den if den > 0 else None


def magnitude_confound(measure: dict[str, torch.Tensor], scale: dict[str, torch.Tensor]) -> dict[str, float | None]:
    """Per layer: Spearman's rho of ``measure`` with the clean mean |F| over that layer's channels."""
    return {layer: spearman(v, scale[layer]) for layer, v in measure.items()}
