"""Cross-model statistics: running sums over the clean images both models see (issue 28).

Channels of two networks are unaligned, so the standard model's channel 116 and the robust
model's channel 116 are compared only through these sums: per pair of layers, the channel-by-
channel cross products of spatially averaged activations (a channel's feature is its spatial mean
on one image, as ``channel_mean`` gives it), each model's per-layer Gram matrix and means. From
them ``rnnviz.measures.similarity`` computes Pearson correlations, the one-to-one matching and
linear CKA, all from C×C sums, never an N×N Gram matrix. Every sum is float64 and the memory is
flat in the number of images; ``merge`` adds the sums, so the shards of a run give the whole's.

The permutation baseline pairs each image with a different one: global index i with i xor 1
(neighbours swap). Its sums Σ x_i y_π(i)ᵀ are kept in the same pass; an image whose partner lies
in another batch or shard waits in ``pending`` until the partner arrives (or ``merge`` brings it).
Runs list images class by class, so a pair is mostly two images of one class: the baseline is what
two different images of the same class share, and a match above it carries more than the class.

Per class, each model's sums Σ_{i in class} x_i are kept too: with them the class means can be taken
out of every cross-covariance exactly (Σ_k of a class's own centring), so a similarity that only
reflects "both models separate the classes" can be told from one within the classes. Baselines for a
similarity ride along as nested statistics (``baselines``): each trained model against a randomly
initialised copy of its architecture, measured in the same pass and merged with the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack

import torch
from torch import nn

from rnnviz.sweep.hooks import LayerHooks, channel_mean
from rnnviz.sweep.passes import eval_mode

Features = dict[str, torch.Tensor]  # layer -> (N, C) float64 spatial means
# nested baseline -> (the trained model's role in ``cross_model_stats``' models, the random copy's role);
# in the nested sums the trained model takes role "standard" and its random copy role "robust"
BASELINES = {"random_standard": ("standard", "random_standard"), "random_robust": ("robust", "random_robust")}


def _sums_device(device: torch.device) -> torch.device:
    """float64 where the activations are; MPS has no float64, so its sums live on the CPU."""
    return torch.device("cpu") if device.type == "mps" else device


class CrossStats:
    """Running sums over images seen by both models, for the layers ``layers`` of each.

    ``add`` takes each model's recorded layer outputs for one batch (``acts_standard`` and
    ``acts_robust``: layer -> (B, C, ...)), the global index of the batch's first image and, where
    known, the images' class labels (B,). ``all_pairs``: cross sums of every standard layer with every
    robust layer (the CKA matrix); otherwise of each layer with the same layer only (a baseline's).
    """

    def __init__(self, layers: Sequence[str], all_pairs: bool = True):
        self.layers = list(layers)
        self.all_pairs = all_pairs
        self.n = 0
        self.sums: dict[str, Features] = {"standard": {}, "robust": {}}  # layer -> Σ x  (C,)
        self.grams: dict[str, Features] = {"standard": {}, "robust": {}}  # layer -> Σ x xᵀ (C, C)
        self.cross: dict[tuple[str, str], torch.Tensor] = {}  # (standard layer, robust layer) -> Σ x yᵀ
        self.shuffled: Features = {}  # layer -> Σ x_i y_π(i)ᵀ over the paired images
        self.n_shuffled = 0
        self.pending: dict[int, tuple[Features, Features]] = {}  # global index -> (x rows, y rows)
        # role -> (layer, class label) -> Σ x over that class's images; class label -> its image count
        self.class_sums: dict[str, dict[tuple[str, int], torch.Tensor]] = {"standard": {}, "robust": {}}
        self.class_n: dict[int, int] = {}
        self.baselines: dict[str, CrossStats] = {}  # BASELINES' names -> trained model vs random copy

    # ---------------------------------------------------------------- feeding

    def add(
        self,
        acts_standard: Mapping[str, torch.Tensor],
        acts_robust: Mapping[str, torch.Tensor],
        start: int = 0,
        labels: torch.Tensor | None = None,
    ):
        xs, ys = _features(acts_standard, self.layers), _features(acts_robust, self.layers)
        n = len(next(iter(xs.values())))
        if any(len(t) != n for t in [*xs.values(), *ys.values()]):
            raise ValueError("both models' outputs must hold the same images")
        if labels is not None and len(labels) != n:
            raise ValueError("one class label per image")
        self.n += n
        for role, feats in (("standard", xs), ("robust", ys)):
            for layer, f in feats.items():
                _fold(self.sums[role], layer, f.sum(0))
                _fold(self.grams[role], layer, f.T @ f)
        for ls in self.layers:
            for lr in self.layers if self.all_pairs else [ls]:
                _fold(self.cross, (ls, lr), xs[ls].T @ ys[lr])
        if labels is not None:
            self._add_classes(xs, ys, labels)
        self._add_shuffled(xs, ys, start, n)
        return self

    def _add_classes(self, xs: Features, ys: Features, labels: torch.Tensor) -> None:
        labels = torch.as_tensor(labels).to(next(iter(xs.values())).device)
        for label in torch.unique(labels).tolist():
            rows = labels == label
            self.class_n[label] = self.class_n.get(label, 0) + int(rows.sum())
            for role, feats in (("standard", xs), ("robust", ys)):
                for layer, f in feats.items():
                    _fold(self.class_sums[role], (layer, label), f[rows].sum(0))

    def _add_shuffled(self, xs: Features, ys: Features, start: int, n: int) -> None:
        index = torch.arange(start, start + n)
        partner = index ^ 1
        inside = (partner >= start) & (partner < start + n)
        rows, cols = inside.nonzero().flatten(), partner[inside] - start
        dev = next(iter(xs.values())).device
        rows, cols = rows.to(dev), cols.to(dev)
        for layer in self.layers:
            _fold(self.shuffled, layer, xs[layer][rows].T @ ys[layer][cols])
        self.n_shuffled += len(rows)
        for j in (~inside).nonzero().flatten().tolist():
            one = ({k: v[j : j + 1] for k, v in xs.items()}, {k: v[j : j + 1] for k, v in ys.items()})
            self._wait(start + j, one)

    def _wait(self, i: int, rows: tuple[Features, Features]) -> None:
        """Keep image ``i``'s rows until its partner i xor 1 comes; then add both cross terms."""
        other = self.pending.pop(i ^ 1, None)
        if other is None:
            self.pending[i] = rows
            return
        for layer in self.layers:
            pair = rows[0][layer].T @ other[1][layer] + other[0][layer].T @ rows[1][layer]
            _fold(self.shuffled, layer, pair.to(_sums_device(pair.device)))
        self.n_shuffled += 2

    def merge(self, other: "CrossStats") -> "CrossStats":
        """The sums of both sets of images (exact: every sum adds; waiting pairs complete)."""
        if other.layers != self.layers or other.all_pairs != self.all_pairs:
            raise ValueError("cannot merge cross statistics of different layers")
        if other.n and self.n and bool(other.class_n) != bool(self.class_n):
            raise ValueError("cannot merge cross statistics with class labels and without")
        self.n += other.n
        for role in ("standard", "robust"):
            for layer in other.sums[role]:
                _fold(self.sums[role], layer, other.sums[role][layer])
                _fold(self.grams[role], layer, other.grams[role][layer])
        for key, value in other.cross.items():
            _fold(self.cross, key, value)
        for layer, value in other.shuffled.items():
            _fold(self.shuffled, layer, value)
        self.n_shuffled += other.n_shuffled
        for i, rows in sorted(other.pending.items()):
            self._wait(i, rows)
        for role in ("standard", "robust"):
            for class_key, value in other.class_sums[role].items():
                _fold(self.class_sums[role], class_key, value)
        for label, count in other.class_n.items():
            self.class_n[label] = self.class_n.get(label, 0) + count
        for name, base in other.baselines.items():
            self.baselines[name] = self.baselines[name].merge(base) if name in self.baselines else base
        return self

    def to(self, device: str | torch.device) -> "CrossStats":
        """Every sum moved to ``device`` (the CPU before pickling, between ranks or into results)."""
        self.cross = {k: v.to(device) for k, v in self.cross.items()}
        self.shuffled = _moved(self.shuffled, device)
        for role in ("standard", "robust"):
            self.sums[role], self.grams[role] = _moved(self.sums[role], device), _moved(self.grams[role], device)
        self.pending = {i: (_moved(x, device), _moved(y, device)) for i, (x, y) in self.pending.items()}
        self.class_sums = {role: {k: v.to(device) for k, v in sums.items()} for role, sums in self.class_sums.items()}
        for base in self.baselines.values():
            base.to(device)
        return self

    # ---------------------------------------------------------------- reading

    def unpaired(self) -> tuple[Features, Features]:
        """The features (U, C) of the U images still waiting for a partner, per model and layer:
        what the baseline's marginals leave out of the full sums."""
        out: tuple[Features, Features] = ({}, {})
        for role, side in enumerate(out):
            for layer in self.layers:
                rows = [r[role][layer] for r in self.pending.values()]
                side[layer] = torch.cat(rows) if rows else torch.zeros(0, 0, dtype=torch.float64)
        return out


def _features(acts: Mapping[str, torch.Tensor], layers: list[str]) -> Features:
    missing = [layer for layer in layers if layer not in acts]
    if missing:
        raise ValueError(f"no recorded output for layer(s) {', '.join(missing)}")
    out = {}
    for layer in layers:
        mean = channel_mean(acts[layer].detach())
        out[layer] = mean.to(_sums_device(mean.device), torch.float64)
    return out


def _moved(feats: Features, device: str | torch.device) -> Features:
    return {k: v.to(device) for k, v in feats.items()}


def _fold(store: dict, key, value: torch.Tensor) -> None:
    store[key] = store[key] + value.to(store[key].device) if key in store else value.clone()


def merge_cross(parts: list[CrossStats | None]) -> CrossStats | None:
    """The statistics of every shard (rank order), merged into the first; one shard as it is."""
    if not parts or parts[0] is None:
        return None
    whole = parts[0]
    for part in parts[1:]:
        assert part is not None, "every rank measures its shard"
        whole.merge(part)
    return whole


def cross_model_stats(
    models: Mapping[str, nn.Module],
    images: torch.Tensor,
    layers: Sequence[str],
    batch_size: int,
    device: str = "cpu",
    first_index: int = 0,
    labels: torch.Tensor | None = None,
) -> CrossStats:
    """One clean forward pass of both models (``models["standard"]``, ``models["robust"]``) over
    ``images`` (a tensor or a ``LazyImages`` view), fed batch by batch into a ``CrossStats``.
    ``first_index`` is the global index of ``images[0]`` (a rank's shard); ``labels`` its images'
    classes (for the class-mean-removed sums). Random copies under ``BASELINES``' names in ``models``
    (one module may serve both) are measured against their trained model in the same pass, into
    ``baselines``. Every module runs once per batch; the sums come back on the CPU.
    """
    stats = CrossStats(layers)
    stats.baselines = {name: CrossStats(layers, all_pairs=False) for name in BASELINES if name in models}
    distinct = {id(m): m for m in models.values()}
    with torch.no_grad(), ExitStack() as stack:
        hooks = {}
        for key, module in distinct.items():
            stack.enter_context(eval_mode(module))
            hooks[key] = stack.enter_context(LayerHooks(module, list(layers), stop=True))
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device)
            acts = {key: h.run(x) for key, h in hooks.items()}
            y = None if labels is None else labels[start : start + batch_size]
            at = first_index + start
            stats.add(acts[id(models["standard"])], acts[id(models["robust"])], at, y)
            for name, base in stats.baselines.items():
                trained, copy = BASELINES[name]
                base.add(acts[id(models[trained])], acts[id(models[copy])], at, y)
    return stats.to("cpu")
