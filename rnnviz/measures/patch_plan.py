"""Which channel sets patching tries: the ranked top-k, its matched controls, each layer's own top share.

A control has the structure and size of what it controls for: random channels in the same layers
and counts as the target set, and channels of the same layers with similar clean |F| (DESIGN.md,
"Matched controls"). Torch only for reading the sums; the draws are seeded numpy generators.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from rnnviz.common.names import RANK_BY
from rnnviz.measures import rank_measures
from rnnviz.sweep.analysis import ModelAnalysis

LAYER_FRACTION = 1 / 8  # "where does the damage enter?": each layer's own top eighth of its channels
NEIGHBOURS = 4  # a magnitude-matched control channel is one of the 4 nearest in clean |F| rank


@dataclass(frozen=True)
class PatchSet:
    """One set of channels patched together: ``kind`` is a ranking measure (sigma, excess, the leading
    one), random or magnitude (controls for ``control``'s top-k), layer or converse."""

    kind: str
    k: int
    channels: tuple[tuple[str, int], ...]
    draw: int = 0
    layer: str = ""
    control: str = ""

    def by_layer(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for layer, ch in self.channels:
            out.setdefault(layer, []).append(ch)
        return out


def plan(
    analysis: ModelAnalysis, e: int, ladder: tuple[int, ...], draws: int, seed: int, rank_by: str = RANK_BY[0]
) -> list[PatchSet]:
    """The sets patched at eps index e: top-k by sigma, by excess and by the leading measure
    ``rank_by``; its controls (random channels in the same layer counts, and channels of the same
    layers and similar clean |F|); each layer's top share of its own channels; the converse."""
    m = analysis.measures[e]
    sigma, scale = m.sigma.channels(), analysis.scale.channels()
    noise = m.noise.channels() if m.noise is not None else None
    keys = [(layer, c) for layer, s in sigma.items() for c in range(len(s))]
    ladder = tuple(sorted({min(k, len(keys)) for k in ladder}))
    lead = rank_by if noise is not None or rank_by not in rank_measures.NEEDS_NOISE else "relative"
    kinds = ["sigma"] + (["excess"] if noise is not None else []) + ([lead] if lead not in ("sigma", "excess") else [])
    ranked = {kind: _top(rank_measures.values(kind, sigma, noise, scale), keys) for kind in kinds}
    sets = [PatchSet(kind, k, tuple(ranked[kind][:k])) for kind in kinds for k in ladder]
    for k in ladder:
        target = ranked[lead][:k]
        if not control_fits(target, sigma):
            continue  # no control of k channels outside the top k: none drawn, the report says so
        for r in range(draws):
            rng = np.random.default_rng([seed, e, k, r])
            sets.append(PatchSet("random", k, layer_matched(target, sigma, rng), draw=r, control=lead))
            sets.append(PatchSet("magnitude", k, magnitude_matched(target, scale, rng), draw=r, control=lead))
    measure = rank_measures.values(lead, sigma, noise, scale)
    for name, values in measure.items():
        own = _top({name: values}, [(name, c) for c in range(len(values))])
        n = max(1, round(LAYER_FRACTION * len(values)))
        sets.append(PatchSet("layer", n, tuple(own[:n]), layer=name, control=lead))
    sets += [PatchSet("converse", k, tuple(ranked[lead][:k]), control=lead) for k in ladder]
    return sets


def control_fits(target: list[tuple[str, int]], widths: dict) -> bool:
    """Every layer of ``target`` has as many channels outside it as it takes: only then can a control
    have exactly its layer counts without patching the target's own channels (a smaller or overlapping
    set would be compared as if it were the same size)."""
    counts = Counter(layer for layer, _ in target)
    return all(2 * count <= len(widths[layer]) for layer, count in counts.items())


def layer_matched(target: list[tuple[str, int]], sigma: dict, rng: np.random.Generator) -> tuple[tuple[str, int], ...]:
    """Random channels in the same layers and counts as ``target``, all outside it (``control_fits``)."""
    chosen = set(target)
    out = []
    for layer, count in Counter(layer for layer, _ in target).items():
        free = [c for c in range(len(sigma[layer])) if (layer, c) not in chosen]
        if len(free) < count:
            raise ValueError(f"layer {layer} has {len(free)} channels outside the target, {count} needed")
        out += [(layer, int(c)) for c in rng.choice(free, count, replace=False)]
    return tuple(sorted(out))


def magnitude_matched(
    target: list[tuple[str, int]], scale: dict, rng: np.random.Generator
) -> tuple[tuple[str, int], ...]:
    """For each target channel a random one of the same layer among the ``NEIGHBOURS`` nearest to it in
    clean |F| rank, outside the target set and not picked twice: a control of the same sizes.
    Nearest by (rank distance, channel index), found by walking outward from the channel's own rank."""
    taken = set(target)
    order = {layer: sorted(range(len(scale[layer])), key=lambda c: (float(scale[layer][c]), c)) for layer, _ in target}
    rank = {layer: {c: i for i, c in enumerate(by_size)} for layer, by_size in order.items()}
    out = []
    for layer, ch in target:
        near = _nearest_free(order[layer], rank[layer][ch], lambda c, la=layer: (la, c) not in taken)
        if not near:
            continue
        pick = int(near[int(rng.integers(len(near)))])
        taken.add((layer, pick))
        out.append((layer, pick))
    return tuple(sorted(out))


def _nearest_free(by_size: list[int], here: int, free) -> list[int]:
    """The ``NEIGHBOURS`` free channels nearest to rank ``here``, ordered by (rank distance, channel)."""
    near: list[int] = []
    for d in range(len(by_size)):
        if len(near) >= NEIGHBOURS:
            break
        at = {i for i in (here - d, here + d) if 0 <= i < len(by_size)}
        near += sorted(c for c in (by_size[i] for i in at) if free(c))
    return near[:NEIGHBOURS]


def _top(values: dict[str, torch.Tensor], keys: list[tuple[str, int]]) -> list[tuple[str, int]]:
    flat = torch.cat(list(values.values()))
    return [keys[j] for j in sorted(range(len(keys)), key=lambda j: (-float(flat[j]), j))]
