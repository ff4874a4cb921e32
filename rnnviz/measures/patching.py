"""Do the sensitive channels cause the errors? Activation patching against random channels.

A second pass over the images, after the sweep has ranked the channels. For each non-zero eps
it recomputes the same adversarial images (same seed, same batch order) and runs, forward only:

* **patching**: the adversarial forward pass with the chosen channels' outputs replaced by
  their clean values for the same image (``LayerHooks.replacing``), for the top-k by sigma, by
  excess and by the leading measure; two matched controls of that top-k (seeded draws): random
  channels in exactly its layer counts, and channels of the same layers with similar clean |F|;
  and each layer's own top eighth of its channels (equal shares, so layers of different width
  compare). Damage undone = (acc_patched - acc_adv) / (acc_clean - acc_adv).
* **the converse**: the clean forward pass with the top-k channels' adversarial values put in:
  the share of correct predictions that flip (are those channels sufficient, not only necessary?).

Patching a channel at layer l changes everything downstream of l; when a set spans several
hooked layers, all are patched in the same pass, so a deeper layer's patched channels hold their
clean values while its other channels see the upstream patch. Counts are running (and bootstrap
weighted) sums, so memory is flat in the number of images and shards merge exactly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import torch

from rnnviz.common.names import RANK_BY
from rnnviz.measures import rank_measures
from rnnviz.measures.resume import Resumable
from rnnviz.sweep.analysis import ModelAnalysis
from rnnviz.sweep.attacks import input_gradient
from rnnviz.sweep.bootstrap import WeightedSums, image_uniform, interval
from rnnviz.sweep.hooks import LayerHooks
from rnnviz.sweep.passes import adversarial, eval_mode, forward_no_grad
from rnnviz.sweep.settings import SweepSettings

LAYER_FRACTION = 1 / 8  # "where does the damage enter?": each layer's own top eighth of its channels
NEIGHBOURS = 4  # a magnitude-matched control channel is one of the 4 nearest in clean |F| rank
PATCH_BATCH = 512  # images per patched forward pass: several sets ride in one batch


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


@dataclass
class PatchCounts:
    """Correct predictions per set: plain sums and bootstrap-weighted sums (one column per set)."""

    sets: list[PatchSet]
    correct: torch.Tensor = field(init=False)  # (S,) plain counts, then clean and adv last
    n: int = 0
    weighted: WeightedSums = field(default_factory=WeightedSums)

    def __post_init__(self):
        self.correct = torch.zeros(len(self.sets) + 2, dtype=torch.float64)

    def add(self, hits: torch.Tensor, w: torch.Tensor | None) -> None:
        """``hits``: (n, S + 2) correct indicators: every set, then clean, then adversarial (any
        device; the counts stay on the CPU, where shards merge)."""
        hits = hits.cpu()
        self.correct += hits.double().sum(0)
        self.n += len(hits)
        if w is not None:
            self.weighted.add({"hits": hits}, w)

    def merge(self, other: PatchCounts) -> PatchCounts:
        self.correct += other.correct
        self.n += other.n
        self.weighted.merge(other.weighted)
        return self


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


def layer_matched(target: list[tuple[str, int]], sigma: dict, rng: np.random.Generator) -> tuple[tuple[str, int], ...]:
    """Random channels in the same layers and counts as ``target``, outside it where the layer allows."""
    chosen = set(target)
    out = []
    for layer, count in Counter(layer for layer, _ in target).items():
        free = [c for c in range(len(sigma[layer])) if (layer, c) not in chosen]
        pool = free if len(free) >= count else list(range(len(sigma[layer])))
        out += [(layer, int(c)) for c in rng.choice(pool, count, replace=False)]
    return tuple(sorted(out))


def magnitude_matched(
    target: list[tuple[str, int]], scale: dict, rng: np.random.Generator
) -> tuple[tuple[str, int], ...]:
    """For each target channel a random one of the same layer among the ``NEIGHBOURS`` nearest to it in
    clean |F| rank, outside the target set and not picked twice: a control of the same sizes."""
    taken = set(target)
    out = []
    for layer, ch in target:
        by_size = sorted(range(len(scale[layer])), key=lambda c: (float(scale[layer][c]), c))
        here = by_size.index(ch)
        free = [c for c in by_size if (layer, c) not in taken]
        near = sorted(free, key=lambda c: (abs(by_size.index(c) - here), c))[:NEIGHBOURS]
        if not near:
            continue
        pick = int(near[int(rng.integers(len(near)))])
        taken.add((layer, pick))
        out.append((layer, pick))
    return tuple(sorted(out))


def _top(values: dict[str, torch.Tensor], keys: list[tuple[str, int]]) -> list[tuple[str, int]]:
    flat = torch.cat(list(values.values()))
    return [keys[j] for j in sorted(range(len(keys)), key=lambda j: (-float(flat[j]), j))]


def patch_sweep(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: SweepSettings,
    plans: dict[int, list[PatchSet]],
    share: float = 1.0,
    resume: bool = True,
) -> dict[int, PatchCounts]:
    """Count correct predictions of every set in ``plans`` (eps index -> sets), forward passes only.

    ``share`` < 1 patches a random subset of the images (each image is in it or not by its own
    seeded draw, so the subset does not depend on batching). The adversarial images are
    recomputed exactly as the sweep made them (per-image randomness), so on all images acc_adv
    here equals the sweep's accuracy. ``resume``: patched passes start at the first patched layer
    (``rnnviz.measures.resume``; the full forward pass where the model does not trace).
    """
    s = settings
    weights = s.weights if s.bootstrap else None
    counts = {e: PatchCounts(sets) for e, sets in plans.items()}
    with eval_mode(model), LayerHooks(model, list(s.layers)) as hooks:
        resumable = Resumable.of(model, list(s.layers)) if resume else None
        for start in range(0, len(labels), s.batch_size):
            index = torch.arange(start, min(start + s.batch_size, len(labels))) + s.first_index
            keep = image_uniform(s.seed, index) < share if share < 1 else torch.ones(len(index), dtype=torch.bool)
            if not keep.any():
                continue
            index = index[keep]
            x = images[start : start + s.batch_size][keep].to(s.device, memory_format=torch.channels_last)
            y = labels[start : start + s.batch_size][keep].to(s.device)
            grad, logits = input_gradient(model, x, y) if s.attack == "fgsm" else (None, forward_no_grad(model, x))
            clean = hooks.take()
            w = weights.of(index, y.cpu())[:, weights.columns("bootstrap")] if weights is not None else None
            for e, eps_value in enumerate(s.eps):
                if eps_value == 0 or e not in counts:
                    continue
                x_adv = adversarial(model, hooks, x, y, grad, eps_value, s, index)
                adv_logits = forward_no_grad(model, x_adv)
                adv = hooks.take()
                clean_right = logits.argmax(1) == y
                hits = _hits(model, hooks, counts[e].sets, x, x_adv, clean, adv, y, clean_right, resumable)
                counts[e].add(torch.cat([hits, clean_right[:, None], (adv_logits.argmax(1) == y)[:, None]], dim=1), w)
    return counts


def _hits(
    model, hooks: LayerHooks, sets: list[PatchSet], x, x_adv, clean: dict, adv: dict, y, clean_right, resumable=None
) -> torch.Tensor:
    """(n, S) per image and set: right with the set's clean values patched into the adversarial
    pass; for a converse set, a clean-correct prediction that flips when its adversarial values go
    into the clean pass. Several sets share one forward pass (the batch repeated once per set),
    resumed at the group's first patched layer where ``resumable`` allows."""
    out = torch.zeros(len(y), len(sets), dtype=torch.bool, device=y.device)
    for converse in (False, True):
        target, source = (x, adv) if converse else (x_adv, clean)
        chosen = [j for j, p in enumerate(sets) if (p.kind == "converse") == converse]
        groups = _groups(resumable, sets, chosen, max(1, PATCH_BATCH // len(y)))
        heads = _heads(resumable, hooks, [[sets[j] for j in group] for group in groups], target)
        for group in groups:
            preds = _patched_predictions(model, hooks, [sets[j] for j in group], target, source, resumable, heads)
            right = preds == y[None, :]
            out[:, group] = (clean_right[None, :] & ~right if converse else right).T
    return out


def _groups(resumable: Resumable | None, sets: list[PatchSet], chosen: list[int], per_pass: int) -> list[list[int]]:
    """Sets that share one pass: at most ``per_pass``, and (when resuming) the same resume point,
    so a set that patches only a deep layer does not pay for a shallow one's earlier start."""

    def start(j: int) -> int:
        point = resumable.start_of(_layers([sets[j]])) if resumable is not None else None
        return -1 if point is None else point

    groups: list[list[int]] = []
    for j in sorted(chosen, key=start):
        if not groups or len(groups[-1]) == per_pass or start(groups[-1][0]) != start(j):
            groups.append([])
        groups[-1].append(j)
    return groups


def _heads(resumable: Resumable | None, hooks: LayerHooks, groups: list[list[PatchSet]], target) -> dict:
    """One unpatched pass of ``target`` up to every group's first patched layer: resume point ->
    the values needed from there on, for the points checked against the full pass."""
    if resumable is None:
        return {}
    points = {resumable.start_of(_layers(group)) for group in groups} - {None}
    if not points:
        return {}
    with torch.no_grad(), hooks.paused():
        heads = resumable.prefix(target, {p for p in points if p is not None})
        return {i: v for i, v in heads.items() if resumable.trusted(i, v, target)}


def _layers(group: list[PatchSet]) -> list[str]:
    return sorted({layer for p in group for layer, _ in p.channels})


def _patched_predictions(
    model, hooks: LayerHooks, group: list[PatchSet], target, source: dict, resumable=None, heads=None
) -> torch.Tensor:
    """Predictions (len(group), n): ``target`` repeated once per set, each copy with its own channels
    replaced by ``source``'s values; resumed from ``heads`` (see ``_heads``) where it holds the point."""
    n, g = len(target), len(group)
    values = {}
    for layer in _layers(group):
        mask = torch.zeros(g, source[layer].shape[1], dtype=torch.bool, device=target.device)
        for k, p in enumerate(group):
            mask[k, p.by_layer().get(layer, [])] = True
        rep = source[layer].repeat(g, *[1] * (source[layer].dim() - 1))
        values[layer] = (mask.repeat_interleave(n, dim=0), rep)
    start = resumable.start_of(_layers(group)) if resumable is not None else None
    with torch.no_grad(), hooks.paused(), hooks.replacing(values):
        if resumable is not None and start in (heads or {}):
            return resumable.finish(heads[start], start, g).argmax(1).view(g, n)
        batch = target.repeat(g, 1, 1, 1).contiguous(memory_format=torch.channels_last)
        return model(batch).argmax(1).view(g, n)


def summarize(counts: PatchCounts) -> dict:
    """Accuracies and damage undone per set, with bootstrap intervals where resampled."""
    n = max(counts.n, 1)
    acc = counts.correct / n
    clean, adv = float(acc[-2]), float(acc[-1])
    boot = _boot_accuracy(counts)
    rows = []
    for j, p in enumerate(counts.sets):
        converse = p.kind == "converse"  # its per-image hits are flips, not correct predictions
        row = {
            "kind": p.kind,
            "k": p.k,
            "draw": p.draw,
            "layer": p.layer,
            "control": p.control,
            "layers": dict(Counter(layer for layer, _ in p.channels)),
            "accuracy": None if converse else float(acc[j]),
        }
        if p.kind == "converse":
            row["flipped"] = _share(float(acc[j]), clean)  # share of clean-correct images that flip
        else:
            row["undone"] = _undone(float(acc[j]), clean, adv)
            row["undone_ci"] = _undone_ci(boot, j) if boot is not None else None
        rows.append(row)
    return {"accuracy_clean": clean, "accuracy_adv": adv, "n_images": counts.n, "sets": rows}


def _boot_accuracy(counts: PatchCounts) -> torch.Tensor | None:
    if counts.weighted.totals is None:
        return None
    return counts.weighted.sums["hits"] / counts.weighted.totals[:, None]  # (B, S + 2)


def _undone(patched: float, clean: float, adv: float) -> float | None:
    """(acc_patched - acc_adv) / (acc_clean - acc_adv); undefined where the attack did no damage."""
    return None if clean - adv <= 0 else (patched - adv) / (clean - adv)


def _undone_ci(boot: torch.Tensor, j: int) -> list[float] | None:
    damage = boot[:, -2] - boot[:, -1]
    ok = damage > 0
    if int(ok.sum()) < 2:
        return None
    lo, hi = interval(((boot[ok, j] - boot[ok, -1]) / damage[ok])[:, None])
    return [float(lo), float(hi)]


def _share(part: float, whole: float) -> float | None:
    return None if whole <= 0 else part / whole
