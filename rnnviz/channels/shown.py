"""The channels a model's gallery and cards show, and each one's peak clean activation.

Built once from the ranking and the matching when the measurement is merged, and read by the cards,
the renders and results.json's ``channel_max_activation`` alike, so the three cannot disagree about
which channels a model shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rnnviz.common.names import layer_order

Channel = tuple[str, int]  # (layer, channel)


@dataclass(frozen=True)
class ShownChannels:
    """``top``: the union of the model's top-k over ε (what its cards describe); ``partners``: the
    robust channels matched to the standard model's top-k that are not among ``top`` (the matched
    gallery's right side); ``peaks``: every shown channel's largest clean activation (the renders'
    target scale), in the order results.json lists them; ``layers``: the configured layer order."""

    top: tuple[Channel, ...]
    partners: tuple[Channel, ...]
    peaks: Mapping[Channel, float]
    layers: tuple[str, ...]

    def gallery(self) -> list[Channel]:
        """Every shown channel, in network order then channel: what the gallery renders."""
        chosen = set(self.top) | set(self.partners)
        order = layer_order(list(self.layers), [layer for layer, _ in chosen])
        return sorted(chosen, key=lambda lc: (order.index(lc[0]), lc[1]))

    def by_layer(self) -> dict[str, list[int]]:
        """Layer -> the top channels in it, ascending: what the cards describe."""
        out: dict[str, list[int]] = {}
        for layer, ch in self.top:
            out.setdefault(layer, []).append(ch)
        return {layer: sorted(chs) for layer, chs in out.items()}


def shown_channels(
    top_per_eps: Iterable[Sequence[dict]], partners: Iterable[Channel], peaks: Mapping, layers: Sequence[str]
) -> ShownChannels:
    """One model's shown channels from its ranking's top rows per ε (``{"layer", "channel"}``; empty at
    ε = 0), the matched partners (robust model; first appearance first) and ``peaks`` (layer ->
    per-channel maxima, as the sweep keeps them)."""
    top = tuple(dict.fromkeys((row["layer"], int(row["channel"])) for rows in top_per_eps for row in rows))
    extra = tuple(lc for lc in dict.fromkeys(partners) if lc not in top)
    return ShownChannels(
        top=top,
        partners=extra,
        peaks={(layer, ch): float(peaks[layer][ch]) for layer, ch in [*sorted(top), *extra]},
        layers=tuple(layers),
    )
