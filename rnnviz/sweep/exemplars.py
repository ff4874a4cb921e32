"""Each channel's exemplar images, kept as a bounded running top-n over the sweep's forward passes.

For every channel of every hooked layer, ``TopExemplars`` keeps the n images with the largest
clean spatial-mean activation, and per non-zero eps the n images whose spatial-mean |F(x') - F(x)|
is largest (each image's own term of sigma, ``sensitivity.channel_l1``). Only (C, n) values and
global image indices per layer and list are held, never anything of size N, and two shards merge
into exactly what one pass over the whole gives.

Order and ties: larger value first; among equal values the smaller global image index wins. The rule
does not depend on batch size or shard order, so every way of feeding the same images gives the
same lists. A NaN value ranks below every number (it never displaces a real exemplar) and is left
out of ``summary``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from rnnviz.common.names import channel_key, eps_key
from rnnviz.sweep.accumulators import Step
from rnnviz.sweep.hooks import LayerHooks, channel_mean
from rnnviz.sweep.passes import eval_mode
from rnnviz.sweep.sensitivity import channel_l1

Kept = tuple[torch.Tensor, torch.Tensor]  # values (C, k) float32, global indices (C, k) int64; k <= n


def top_n(kept: Kept | None, values: torch.Tensor, indices: torch.Tensor, n: int) -> Kept:
    """Fold a batch's per-image values (B, C) with global ``indices`` (B,) into the kept (C, k) top-n."""
    v = values.detach().float().cpu().t()  # (C, B)
    v = v.masked_fill(v.isnan(), -torch.inf)
    i = indices.detach().to("cpu", torch.int64).view(1, -1).expand_as(v)
    return _fold(kept, (v, i), n)


def _fold(kept: Kept | None, other: Kept, n: int) -> Kept:
    """Two (C, k) stores into one top-n. Two stable sorts (by index, then by value descending)
    send ties to the smaller index, where ``torch.topk`` would leave their order unspecified."""
    v, i = other
    if kept is not None:
        v, i = torch.cat([kept[0], v], 1), torch.cat([kept[1], i], 1)
    i, by_index = i.sort(dim=1, stable=True)
    v, by_value = v.gather(1, by_index).sort(dim=1, descending=True, stable=True)
    return v[:, :n].contiguous(), i.gather(1, by_value)[:, :n].contiguous()


class TopExemplars:
    """Per channel: the top-``n`` images by clean activation, and per non-zero eps by |dF|.

    Args:
        layers: the hooked layers (module paths) to keep exemplars for.
        n: images kept per channel and list.
        n_eps: the sweep's number of eps values (``Step.eps_index`` ranges over them).
        eps: the eps values themselves; steps at eps 0 are then skipped, and ``summary`` keys its
            "change" lists by ``eps_key`` without being told them again.
        offset: added to every batch start, the global index of this shard's first image
            (``SweepSettings.first_index``), so kept indices stay global across shards.
    """

    def __init__(
        self, layers: Sequence[str], n: int, n_eps: int, *, eps: Sequence[float] | None = None, offset: int = 0
    ):
        if eps is not None and len(eps) != n_eps:
            raise ValueError(f"{len(eps)} eps values for n_eps={n_eps}")
        self.layers, self.n, self.n_eps, self.offset = list(layers), int(n), int(n_eps), int(offset)
        self.eps = None if eps is None else [float(e) for e in eps]
        self.clean: dict[str, Kept] = {}
        self.change: list[dict[str, Kept]] = [{} for _ in range(n_eps)]

    def _indices(self, start: int, count: int) -> torch.Tensor:
        return torch.arange(count, dtype=torch.int64) + (start + self.offset)

    def add_clean(self, start: int, clean: dict[str, torch.Tensor]) -> None:
        """One batch's clean activations (layer -> (N, C, ...)); call once per batch, not per eps."""
        for name in self.layers:
            values = channel_mean(clean[name])
            self.clean[name] = top_n(self.clean.get(name), values, self._indices(start, len(values)), self.n)

    def add(self, step: Step, per_image: dict[str, torch.Tensor] | None = None) -> None:
        """One batch at one eps: the images whose channel changed most (eps 0 is skipped).

        ``per_image``: the (n, C) |dF| values sigma's meter already computed for this step (saves
        recomputing them); by default computed here.
        """
        if self.eps is not None and self.eps[step.eps_index] == 0:
            return
        kept = self.change[step.eps_index]
        for name in self.layers:
            values = per_image[name] if per_image is not None else channel_l1(step.clean[name], step.adv[name])
            kept[name] = top_n(kept.get(name), values, self._indices(step.start, len(values)), self.n)

    def merge(self, other: "TopExemplars") -> "TopExemplars":
        """Fold in another shard's exemplars: the same lists one pass over both would keep."""
        if (other.n, other.n_eps) != (self.n, self.n_eps):
            raise ValueError("cannot merge exemplars kept with a different n or number of eps")
        for mine, theirs in [(self.clean, other.clean), *zip(self.change, other.change)]:
            for name, (v, i) in theirs.items():
                mine[name] = _fold(mine.get(name), (v, i), self.n)
        return self

    def image_indices(self, channels: dict[str, list[int]] | None = None) -> list[int]:
        """Every image index some chosen channel's lists hold (sorted): the map pass's input."""
        found: set[int] = set()
        for name, chs in self._chosen(channels).items():
            for store in [self.clean, *self.change]:
                if name in store:
                    values, indices = store[name]
                    found.update(int(i) for i in indices[chs][values[chs].isfinite()].tolist())
        return sorted(found)

    def _chosen(self, channels: dict[str, list[int]] | None) -> dict[str, list[int]]:
        if channels is None:
            return {name: list(range(kept[0].shape[0])) for name, kept in self.clean.items()}
        return channels

    def summary(self, channels: dict[str, list[int]] | None = None, eps: Sequence[float] | None = None) -> dict:
        """results.json's ``exemplars[model]`` lists for the chosen channels (all when ``None``).

        Returns ``{"layer:ch": {"clean": [{"index", "value"}...], "change": {repr(eps): [...]}}}``,
        each list in descending order; an eps of 0 has no "change" list.
        """
        eps_values = [float(e) for e in eps] if eps is not None else self.eps
        if eps_values is None or len(eps_values) != self.n_eps:
            raise ValueError("summary needs the sweep's eps values (at construction or as `eps`)")
        out = {}
        for name, chs in self._chosen(channels).items():
            for ch in chs:
                change = {eps_key(e): _rows(self.change[k].get(name), ch) for k, e in enumerate(eps_values) if e != 0}
                out[channel_key(name, ch)] = {"clean": _rows(self.clean.get(name), ch), "change": change}
        return out


def clean_exemplars(
    model: torch.nn.Module,
    batches: Iterable[tuple[int, torch.Tensor]],
    layers: Sequence[str],
    n: int,
    eps: Sequence[float],
    offset: int,
    device: str = "cpu",
) -> TopExemplars:
    """The clean top-``n`` of more images than the sweep's (the exemplar pool, ``rnnviz.data.pool``):
    one clean forward pass a batch, no attack, so only the "clean" lists fill. ``batches`` are
    (start, images) with starts counted from the pool's first image; ``offset`` (the number of
    analysed images) makes the kept indices global. Merges with the sweep's ``TopExemplars``."""
    kept = TopExemplars(layers, n, len(eps), eps=eps, offset=offset)
    with torch.no_grad(), eval_mode(model), LayerHooks(model, kept.layers, stop=True) as hooks:
        for start, x in batches:
            kept.add_clean(start, hooks.run(x.to(device)))
    return kept


def _rows(kept: Kept | None, ch: int) -> list[dict]:
    if kept is None:
        return []
    return [
        {"index": int(i), "value": float(v)}
        for v, i in zip(kept[0][ch].tolist(), kept[1][ch].tolist())
        if v == v and abs(v) != float("inf")
    ]
