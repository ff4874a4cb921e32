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
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from rnnviz.common.intervals import draw_spread, wilson
from rnnviz.common.names import PATCH_CONTROLS
from rnnviz.measures.patch_plan import PatchSet
from rnnviz.measures.resume import Resumable
from rnnviz.sweep.attacks import input_gradient
from rnnviz.sweep.bootstrap import WeightedSums, image_uniform, interval
from rnnviz.sweep.hooks import LayerHooks, StackedChannels
from rnnviz.sweep.passes import CleanBatch, adversarial, eval_mode, forward_no_grad
from rnnviz.sweep.settings import SweepSettings

PATCH_BATCH = 512  # images per patched forward pass on a GPU: several sets ride in one batch
CPU_PASS_BYTES = 32 * 2**20  # on a CPU, the hooked outputs of one stacked pass: beyond the caches, slower per image
CPU_PASS_IMAGES = 64  # ... but no fewer images a pass than this (smaller passes pay more overhead than they save)


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
        for at in _patched_batches(len(labels), s, share):
            index = (at if isinstance(at, torch.Tensor) else torch.arange(at.start, at.stop)) + s.first_index
            x = images[at].to(s.device, memory_format=torch.channels_last)
            y = labels[at].to(s.device)
            grad, logits = input_gradient(model, x, y) if s.attack == "fgsm" else (None, forward_no_grad(model, x))
            clean = _Clean(x, y, index, grad, activations=hooks.take(), right=logits.argmax(1) == y, heads={})
            w = weights.of(index, y.cpu())[:, weights.columns("bootstrap")] if weights is not None else None
            for e, eps_value in enumerate(s.eps):
                if eps_value == 0 or e not in counts:
                    continue
                x_adv = adversarial(model, hooks, clean, eps_value, s)
                adv_logits = forward_no_grad(model, x_adv)
                adv = hooks.take()
                hits = _hits(model, hooks, counts[e].sets, clean, x_adv, adv, resumable)
                counts[e].add(torch.cat([hits, clean.right[:, None], (adv_logits.argmax(1) == y)[:, None]], dim=1), w)
    return counts


def _patched_batches(n: int, s: SweepSettings, share: float) -> Iterator[slice | torch.Tensor]:
    """The shard's patched images in batches of ``s.batch_size``: contiguous slices when every image
    is patched, else the positions each image's own draw keeps, gathered before batching. Full batches
    keep the stacked passes at a few sizes (each new size costs oneDNN new kernels) and each image's
    draw, not batch order, decides whether it is patched."""
    if share >= 1:
        yield from (slice(start, min(start + s.batch_size, n)) for start in range(0, n, s.batch_size))
        return
    kept = (image_uniform(s.seed, torch.arange(n) + s.first_index) < share).nonzero().flatten()
    yield from (batch for batch in kept.split(s.batch_size) if len(batch))  # no image kept: split gives one empty part


@dataclass(frozen=True)
class _Clean(CleanBatch):
    """One batch's clean pass as the patched passes read it: the hooked layers' outputs, which
    predictions are right, and the pass's resume values (``_heads``), kept across the eps of the batch."""

    activations: dict[str, torch.Tensor]
    right: torch.Tensor
    heads: dict


def _hits(
    model, hooks: LayerHooks, sets: list[PatchSet], clean: _Clean, x_adv, adv: dict, resumable=None
) -> torch.Tensor:
    """(n, S) per image and set: right with the set's clean values patched into the adversarial
    pass; for a converse set, a clean-correct prediction that flips when its adversarial values go
    into the clean pass. Several sets share one forward pass (the batch repeated once per set),
    resumed at the group's first patched layer where ``resumable`` allows; sets with the same
    channels (two draws that came out alike) run once."""
    y = clean.y
    unique = {(p.kind == "converse", p.channels): p for p in sets}
    where = {key: j for j, key in enumerate(unique)}
    runs = list(unique.values())
    out = torch.zeros(len(y), len(runs), dtype=torch.bool, device=y.device)
    for converse in (False, True):
        target, source = (clean.x, adv) if converse else (x_adv, clean.activations)
        chosen = [j for j, p in enumerate(runs) if (p.kind == "converse") == converse]
        groups = _groups(resumable, runs, chosen, _sets_per_pass(clean.activations, len(y)))
        cache = clean.heads if converse else {}
        heads = _heads(resumable, hooks, [[runs[j] for j in group] for group in groups], target, cache)
        for group in groups:
            preds = _patched_predictions(model, hooks, [runs[j] for j in group], target, source, resumable, heads)
            right = preds == y[None, :]
            out[:, group] = (clean.right[None, :] & ~right if converse else right).T
    return out[:, [where[(p.kind == "converse", p.channels)] for p in sets]]


def _sets_per_pass(activations: dict[str, torch.Tensor], n: int) -> int:
    """How many copies of an n-image batch one stacked pass takes: ``PATCH_BATCH`` images on a GPU;
    on a CPU no more than keep the hooked layers' outputs within ``CPU_PASS_BYTES`` (a pass that
    spills out of the caches costs more per image than two that do not: the demo's 28 px net patches
    in 0.75x the time of 512-image passes), and at least ``CPU_PASS_IMAGES``."""
    images = PATCH_BATCH
    first = next(iter(activations.values()), None)
    if first is not None and first.device.type == "cpu":
        per_image = sum(a[0].numel() * a.element_size() for a in activations.values())
        images = min(images, max(CPU_PASS_IMAGES, CPU_PASS_BYTES // max(per_image, 1)))
    return max(1, images // n)


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


def _heads(resumable: Resumable | None, hooks: LayerHooks, groups: list[list[PatchSet]], target, cache: dict) -> dict:
    """One unpatched pass of ``target`` up to every group's first patched layer: resume point ->
    the values needed from there on, for the points checked against the full pass. ``cache`` holds
    points already run for this ``target`` (none are run twice)."""
    if resumable is None:
        return {}
    points = {resumable.start_of(_layers(group)) for group in groups} - {None} - set(cache)
    if points:
        with torch.no_grad(), hooks.paused():
            heads = resumable.prefix(target, {p for p in points if p is not None})
            cache.update({i: (v if resumable.trusted(i, v, target) else None) for i, v in heads.items()})
            cache.update({i: None for i in points if i not in heads})  # not batch-first there: full pass
    return {i: v for i, v in cache.items() if v is not None}


def _layers(group: list[PatchSet]) -> list[str]:
    return sorted({layer for p in group for layer, _ in p.channels})


def _patched_predictions(
    model, hooks: LayerHooks, group: list[PatchSet], target, source: dict, resumable=None, heads=None
) -> torch.Tensor:
    """Predictions (len(group), n): ``target`` repeated once per set, each copy with its own channels
    replaced by ``source``'s values; resumed from ``heads`` (see ``_heads``) where it holds the point."""
    n, g = len(target), len(group)
    values = {
        layer: StackedChannels.of(source[layer], [p.by_layer().get(layer, []) for p in group])
        for layer in _layers(group)
    }
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
            row["undone_ci"] = (
                _undone_ci(boot, j, _count(acc[j] - adv, n), _count(clean - adv, n)) if boot is not None else None
            )
        rows.append(row)
    return {
        "accuracy_clean": clean,
        "accuracy_adv": adv,
        "n_images": counts.n,
        "sets": rows,
        "controls": controls(rows),
    }


def controls(rows: list[dict]) -> list[dict]:
    """Per matched control and k, what a verdict reads: how many draws, how many channels each patched
    (its real size: the smallest draw), and damage undone over the draws, mean and 5-95% range."""
    out = []
    for kind, k in dict.fromkeys((r["kind"], r["k"]) for r in rows if r["kind"] in PATCH_CONTROLS):
        draws = [r for r in rows if r["kind"] == kind and r["k"] == k]
        values = [r["undone"] for r in draws if r["undone"] is not None]
        out.append(
            {
                "kind": kind,
                "k": k,
                "control": draws[0]["control"],
                "draws": len(draws),
                "channels": min(sum(r["layers"].values()) for r in draws),
                "undone_mean": sum(values) / len(values) if values else None,
                "undone_range": list(draw_spread(values)) if values else None,
            }
        )
    return out


def _boot_accuracy(counts: PatchCounts) -> torch.Tensor | None:
    if counts.weighted.totals is None:
        return None
    return counts.weighted.sums["hits"] / counts.weighted.totals[:, None]  # (B, S + 2)


def _undone(patched: float, clean: float, adv: float) -> float | None:
    """(acc_patched - acc_adv) / (acc_clean - acc_adv); undefined where the attack did no damage."""
    return None if clean - adv <= 0 else (patched - adv) / (clean - adv)


def _undone_ci(boot: torch.Tensor, j: int, restored: int, flipped: int) -> list[float] | None:
    """The bootstrap percentile interval of damage undone; where every resample agrees (none of the
    flipped images restored, say) it has zero width and says nothing of the uncertainty, so the
    Wilson interval of ``restored`` out of ``flipped`` images stands in."""
    damage = boot[:, -2] - boot[:, -1]
    ok = damage > 0
    if int(ok.sum()) < 2:
        return None
    lo, hi = interval(((boot[ok, j] - boot[ok, -1]) / damage[ok])[:, None])
    if float(hi) - float(lo) < 1e-12 and 0 <= restored <= flipped:
        return list(wilson(restored, flipped))
    return [float(lo), float(hi)]


def _count(share: float | torch.Tensor, n: int) -> int:
    """A share of ``n`` images back to its count (net: restored or flipped images)."""
    return round(float(share) * n)


def _share(part: float, whole: float) -> float | None:
    return None if whole <= 0 else part / whole
