"""The strong evaluation: each image's worst case over every attack run, per model and eps.

FGSM and 10-step PGD overstate robust accuracy (the demo's robust model: FGSM 93% at eps 0.1 where
APGD-CE gives 86%). So beside the analysis attacks, every run evaluates APGD-CE and then APGD-T
(AutoAttack's gradient components, ``rnnviz.sweep.apgd``) on the images a model still gets right.
The eps run in increasing order, and an image counts as broken at an eps when

1. it was broken at a smaller eps (Linf balls nest, and the clean image lies in every ball), or
2. an analysis attack (any Linf one of ``--attack``) fooled the model at this eps, or
3. APGD-CE, then APGD-T, finds a misclassified point in the ball.

Only the images left after 1 and 2 are attacked, and a batch stops at the first eps where none is
left, so the evaluation costs little where the analysis attacks already did the work. Each broken
image is counted once, under the first of ``smaller_eps``, ``analysis``, ``apgd-ce``, ``apgd-t``
that broke it (at eps 0 the analysis attacks return the image itself: their flips are the clean
errors), so per eps ``correct + sum(flipped_by) = n``. The counts add over shards (torchrun); random
starts belong to (seed, image index), so any sharding gives the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from rnnviz.common.intervals import wilson
from rnnviz.common.names import NORMS, STRONG_COMPONENTS
from rnnviz.sweep.apgd import VERSIONS, APGDSettings, fooled_by, target_count
from rnnviz.sweep.draws import Starts
from rnnviz.sweep.passes import Batching, CleanBatch, eval_mode

CAUSES = ("smaller_eps", "analysis", *STRONG_COMPONENTS)  # what broke an image, in the order it is asked
STREAM = "strong"  # the random starts' stream: apart from an analysis APGD's, so it is a fresh try
_ATTACK = {"apgd-ce": "apgd", "apgd-t": "apgd-t"}  # results.json's component names -> rnnviz.sweep.apgd's


@dataclass
class StrongCounts:
    """One model's counts per eps (aligned with the run's eps): images right under every attack, and
    the broken ones by cause. Sums of shards: ``merge`` adds them."""

    n: int
    correct: np.ndarray
    flipped: dict[str, np.ndarray]
    targets: int = 0  # the APGD-T target classes used (fewer than asked where the model has few classes)

    @classmethod
    def empty(cls, n_eps: int, targets: int) -> "StrongCounts":
        zeros = lambda: np.zeros(n_eps, dtype=np.int64)  # noqa: E731
        return cls(0, zeros(), {c: zeros() for c in CAUSES}, targets)

    def merge(self, other: "StrongCounts") -> None:
        """Add another shard's counts (``rnnviz.sweep.accumulators.merged`` folds the ranks with it)."""
        self.n += other.n
        self.correct = self.correct + other.correct
        self.flipped = {c: self.flipped[c] + other.flipped[c] for c in CAUSES}
        self.targets = min(self.targets, other.targets)


@dataclass(frozen=True)
class StrongPlan:
    """What the strong evaluation runs: the version's settings, the seed, the eps (any order) and
    the Linf analysis attacks whose per-image verdicts it starts from."""

    version: str
    settings: APGDSettings
    seed: int
    eps: tuple[float, ...]
    analysis: tuple[str, ...] = field(default=())


def plan(version: str, seed: int, eps, attacks) -> StrongPlan | None:
    """The strong evaluation of a run with these settings (None when off); ``analysis`` is empty when
    no attack of the run is Linf (then nothing runs: see ``skipped``)."""
    if version not in VERSIONS:
        return None
    linf = tuple(a for a in attacks if NORMS[a] == "linf")
    return StrongPlan(version, VERSIONS[version], seed, tuple(float(e) for e in eps), linf)


def run_plan(cfg) -> StrongPlan | None:
    """The strong evaluation of a run's ``Config`` (None with ``--strong-attack off``)."""
    return plan(cfg.strong_attack, cfg.seed, cfg.eps, cfg.attack)


def skipped(strong: StrongPlan) -> str:
    """Why the strong evaluation did not run, or "" where it does."""
    if strong.analysis:
        return ""
    return "not run: APGD-CE and APGD-T are Linf attacks, and this run's attacks are all L2 (its eps are L2 radii)"


def analysis_correct(by_model: dict[str, dict], attacks) -> dict[str, np.ndarray]:
    """model -> (n_eps, N) bool: right under every one of ``attacks`` (``by_model[m][a].correct``)."""
    return {m: np.logical_and.reduce([per[a].correct for a in attacks]) for m, per in by_model.items()}


def evaluate(
    model: torch.nn.Module,
    images,
    labels: torch.Tensor,
    right: np.ndarray,
    strong: StrongPlan,
    batching: Batching,
    *,
    progress: str | None = None,
) -> StrongCounts:
    """The strong counts of one model on ``images`` (a shard, walked as ``batching`` says); ``right``:
    (n_eps, len(images)) bool, right under every analysis attack."""
    n, batch_size, device = len(labels), batching.batch_size, batching.device
    order = sorted(range(len(strong.eps)), key=lambda e: strong.eps[e])
    counts = StrongCounts.empty(len(strong.eps), strong.settings.targets)
    counts.n = n
    bar = tqdm(total=n, desc=progress, unit="img", disable=progress is None, leave=False)
    with eval_mode(model):
        for start in range(0, n, batch_size):
            x = images[start : start + batch_size].to(device)
            y = labels[start : start + batch_size].to(device)
            index = torch.arange(start, start + len(y), device=device) + batching.first_index
            with torch.no_grad():
                logits = model(x)
            counts.targets = min(counts.targets, target_count(strong.settings, logits.shape[1]))
            alive = (logits.argmax(1) == y).cpu().numpy()
            ok = right[:, start : start + len(y)]
            batch = CleanBatch(x, y, index, None)
            for e in order:
                _one_eps(model, batch, alive, ok[e], strong, e, counts)
            bar.update(len(y))
    bar.close()
    return counts


def _one_eps(model, batch: CleanBatch, alive: np.ndarray, ok: np.ndarray, strong: StrongPlan, e: int, counts) -> None:
    """One batch at eps ``e``: count what breaks the images still standing, in order; ``alive`` is
    updated in place (so the next, larger eps starts from the survivors)."""
    x, y, index, eps = batch.x, batch.y, batch.index, strong.eps[e]
    if eps == 0:  # the attacks return the image itself: only the clean errors
        counts.flipped["analysis"][e] += int((~ok).sum())
        alive &= ok
        counts.correct[e] += int(alive.sum())
        return
    counts.flipped["smaller_eps"][e] += int((~alive).sum())
    counts.flipped["analysis"][e] += int((alive & ~ok).sum())
    alive &= ok
    for component in STRONG_COMPONENTS:
        rows = np.flatnonzero(alive)
        if len(rows) == 0:
            break
        if component == "apgd-t" and counts.targets == 0:
            continue
        sub = torch.as_tensor(rows, device=x.device)
        starts = Starts(strong.seed, index[sub], stream=STREAM)
        fooled = fooled_by(_ATTACK[component], model, x[sub], y[sub], eps, strong.settings, starts).cpu().numpy()
        counts.flipped[component][e] += int(fooled.sum())
        alive[rows[fooled]] = False
    counts.correct[e] += int(alive.sum())


def strong_results(strong: StrongPlan | None, counts: dict[str, StrongCounts] | None) -> dict | None:
    """results.json's ``strong_attack`` (docs/results-schema.md); None when the run turned it off."""
    if strong is None:
        return None
    targets = min((c.targets for c in (counts or {}).values()), default=strong.settings.targets)
    return {
        "settings": {
            "components": list(STRONG_COMPONENTS) if targets else [STRONG_COMPONENTS[0]],
            "iterations": strong.settings.iterations,
            "targets": targets,
            "restarts": strong.settings.restarts,
            "version": strong.version,
            "norm": "linf",
            "seed": strong.seed,
        },
        "analysis": list(strong.analysis),
        "models": {m: _model_entry(c) for m, c in (counts or {}).items()},
        "note": skipped(strong),
    }


def _model_entry(c: StrongCounts) -> dict:
    intervals = [wilson(int(k), c.n) for k in c.correct]
    return {
        "n": c.n,
        "correct": [int(k) for k in c.correct],
        "accuracy": [int(k) / c.n for k in c.correct],
        "interval": [[float(lo), float(hi)] for lo, hi in intervals],
        "flipped_by": {cause: [int(k) for k in c.flipped[cause]] for cause in CAUSES},
    }
