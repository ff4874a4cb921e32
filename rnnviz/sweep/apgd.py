"""APGD-CE and APGD-T (Croce & Hein, ICML 2020), Linf, in [0, 1] pixel units, against true labels.

Auto-PGD is the gradient part of AutoAttack's standard version: PGD with momentum whose step size
starts at 2 * eps and is halved at checkpoints where the loss stopped rising, restarting from the
best point found. APGD-CE ascends the cross-entropy; APGD-T ascends the targeted DLR loss
``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)`` towards each of the ``targets`` classes the clean
image scores highest after its top one, each target a run on the images no earlier run fooled.

What follows AutoAttack's ``autopgd_base.py`` (the reference implementation) and what is ours:

- Checkpoints ``w_j = ceil(p_j * N)`` with ``p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03,
  0.06)`` (the paper's definition; the reference reaches the same iterations for N = 100, the
  standard version, and rounds the gaps down one by one for other N).
- At a checkpoint the step halves where the loss rose in at most ``rho`` of the steps since the last
  checkpoint (the reference's ``<=``), or where the step was not halved at the last checkpoint and the
  best loss has not improved since (off at the first checkpoint, as in the reference); the point then
  restarts from the best point with its gradient. The first step of the first checkpoint's interval is
  compared with the start point's loss (the reference compares it with an unset entry, zero).
- Momentum 0.75 from the second step on: ``x <- P(x + 0.75 (z - x) + 0.25 (x - x_prev))`` with
  ``z = P(x + step * sign(grad))``; ``P`` projects onto the eps ball and [0, 1].
- The random start ``x + eps * t / max|t|`` with ``t`` uniform in [-1, 1) is drawn per image from
  (seed, stream, global index) (``rnnviz.sweep.draws``), so an image gets the same attack in any batch,
  order or shard. The reference seeds one global generator.
- ``stop_when_fooled``: an image is done at its first misclassified point (the strong evaluation,
  where only "fooled or not" counts, and the batch shrinks as images fall); otherwise every image takes
  every step and gets its last misclassified point, or, never fooled, its highest-loss point (the
  sensitivity analysis, which needs a perturbation for every image; the reference returns the clean
  image there).

At eps = 0 every attack returns the input itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnviz.common.names import APGD_VERSIONS
from rnnviz.sweep import draws
from rnnviz.sweep.draws import Starts

RHO = 0.75  # the share of rising steps under which the step size halves
MOMENTUM = 0.75  # alpha: the weight of the new step against the last move
_DLR_GUARD = 1e-12  # the reference's guard against a zero DLR denominator
_P1, _GAP_SHRINK, _MIN_GAP = 22, 3, 6  # p_1, the gaps' shrink and their floor, in hundredths


@dataclass(frozen=True)
class APGDSettings:
    """Iterations per run and the number of target classes of APGD-T (AutoAttack's standard version:
    100 and 9); ``restarts`` runs of APGD-CE from further random starts on the images still standing."""

    iterations: int = 100
    targets: int = 9
    restarts: int = 1


@dataclass(frozen=True)
class AscentSettings:
    """How one APGD run climbs: ``iterations`` steps in the Linf ball of radius ``eps``, the step size
    starting at 2 * eps and halving at the checkpoints where the loss rose in at most ``rho`` of the
    steps; ``stop_when_fooled``: an image stops at its first misclassified point; ``record``: keep the
    step size of every iteration (for checking the schedule)."""

    eps: float
    iterations: int
    rho: float = RHO
    stop_when_fooled: bool = False
    record: bool = False


VERSIONS = {name: APGDSettings(iterations, targets) for name, (iterations, targets) in APGD_VERSIONS.items()}
STANDARD, FAST = VERSIONS["standard"], VERSIONS["fast"]


def checkpoints(iterations: int) -> list[int]:
    """The iterations after which the step size is checked, ``ceil(p_j * N)`` for p_j in (0, 1].

    Kept in integer hundredths so that ``0.41 * 100`` is 41, not 41.000000000000007 rounded up.
    """
    marks: list[int] = []
    last, p = 0, _P1
    while p <= 100:
        w = -(-p * iterations // 100)
        if w > (marks[-1] if marks else 0):
            marks.append(w)
        last, p = p, p + max(p - last - _GAP_SHRINK, _MIN_GAP)
    return marks


def ce_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image cross-entropy (the untargeted loss of APGD-CE)."""
    return F.cross_entropy(logits, y, reduction="none")


def dlr_targeted_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Per-image targeted DLR loss: the margin of the target over the true class, in units of the
    spread between the top logit and the mean of the third and fourth (invariant to logit scale)."""
    assert target is not None, "the targeted loss needs a target class per image"
    top = logits.sort(dim=1, descending=True).values
    rows = torch.arange(len(y), device=logits.device)
    spread = top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + _DLR_GUARD
    return -(logits[rows, y] - logits[rows, target]) / spread


Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


@dataclass
class Run:
    """One APGD run's outcome per image: the point to keep, whether it fools the model, the best
    loss; ``steps`` (iterations, images) is the step size each iteration used, when recorded."""

    x_adv: torch.Tensor
    fooled: torch.Tensor
    loss: torch.Tensor
    steps: torch.Tensor | None = None


def apgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    settings: APGDSettings = STANDARD,
    starts: Starts = Starts(),
    *,
    stop_when_fooled: bool = False,
) -> torch.Tensor:
    """APGD-CE: ``settings.restarts`` runs of ``settings.iterations`` steps (each later run only on
    the images no earlier run fooled); the kept point per image (see the module's notes)."""
    if eps == 0:
        return x
    per_run = AscentSettings(eps, settings.iterations, stop_when_fooled=stop_when_fooled)
    return _runs(model, x, y, settings, starts, per_run, False).x_adv


def apgd_t(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    settings: APGDSettings = STANDARD,
    starts: Starts = Starts(),
    *,
    stop_when_fooled: bool = False,
) -> torch.Tensor:
    """APGD-T: one run per target class, the classes ranked 2nd, 3rd, ... by the clean logits, each
    on the images no earlier target fooled. Needs 4 classes or more (the DLR loss's spread)."""
    if eps == 0:
        return x
    per_run = AscentSettings(eps, settings.iterations, stop_when_fooled=stop_when_fooled)
    return _runs(model, x, y, settings, starts, per_run, True).x_adv


def fooled_by(
    name: str,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    settings: APGDSettings,
    starts: Starts,
) -> torch.Tensor:
    """(B,) bool: which images ``name`` (``apgd`` or ``apgd-t``) fools at ``eps``, each image stopping
    at its first misclassified point (the strong evaluation's question)."""
    if eps == 0:
        with torch.no_grad():
            return model(x).argmax(1) != y
    per_run = AscentSettings(eps, settings.iterations, stop_when_fooled=True)
    return _runs(model, x, y, settings, starts, per_run, name == "apgd-t").fooled


def target_count(settings: APGDSettings, n_classes: int) -> int:
    """How many targets APGD-T can take with ``n_classes`` classes (0 below 4: no DLR spread)."""
    return 0 if n_classes < 4 else min(settings.targets, n_classes - 1)


def _indices(x: torch.Tensor, indices: torch.Tensor | None) -> torch.Tensor:
    return (indices if indices is not None else torch.arange(len(x))).to(x.device)


def _runs(model, x, y, settings: APGDSettings, starts: Starts, per_run: AscentSettings, targeted: bool) -> Run:
    """The runs of one attack (restarts of APGD-CE, or targets of APGD-T), each later run on the
    images no earlier one fooled; never-fooled images keep the highest-loss point of any run."""
    index = _indices(x, starts.indices)
    if targeted:
        with torch.no_grad():
            clean = model(x)  # the targets: the classes the clean image scores highest after its top one
        count = target_count(settings, clean.shape[1])
        if count == 0:
            raise ValueError(f"APGD-T's DLR loss needs 4 or more classes; the model has {clean.shape[1]}")
        ranked = clean.argsort(dim=1, descending=True)
        plan = [(f"t{r}", ranked[:, r], dlr_targeted_loss) for r in range(1, count + 1)]
    else:
        plan = [(f"r{r}", None, ce_loss) for r in range(settings.restarts)]
    out = Run(x.clone(), torch.zeros(len(x), dtype=torch.bool, device=x.device), torch.full((len(x),), -math.inf))
    out.loss = out.loss.to(x.device)
    for name, target, loss in plan:
        todo = (~out.fooled).nonzero().flatten()
        if len(todo) == 0:
            break
        key = (starts.stream, "apgd-t" if targeted else "apgd", name)
        start = _start(x.shape[1:], starts.seed, key, index[todo]).to(x.dtype)
        t = target[todo] if target is not None else None
        run = ascent(model, x[todo], y[todo], per_run, loss, start, t)
        keep = run.fooled | (run.loss > out.loss[todo])
        out.x_adv[todo[keep]] = run.x_adv[keep]
        out.loss[todo] = torch.maximum(out.loss[todo], run.loss)
        out.fooled[todo] = run.fooled
    return out


def _start(shape, seed: int, key: tuple, index: torch.Tensor) -> torch.Tensor:
    """The random start direction t / max|t|, t uniform in [-1, 1), per image (counter-based); ``key``:
    (stream, attack, run), so every run of every attack starts from its own draw."""
    stream = draws.stream_of("apgd_start", *key)
    t = 2 * draws.uniform(seed, stream, index, math.prod(shape), torch.float32) - 1
    return (t / t.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)).view(len(index), *shape)


def _project(x_new: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.min(torch.max(x_new, x - eps), x + eps).clamp_(0.0, 1.0)


def _per_image(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return values.view(-1, *[1] * (x.dim() - 1))


def _loss_grad(model, x_adv, y, loss: Loss, target):
    """Per-image loss, the input gradient of their sum (each image's own), and the logits."""
    x_adv = x_adv.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x_adv)
        values = loss(logits, y, target)
        (grad,) = torch.autograd.grad(values.sum(), x_adv)
    return values.detach(), grad.detach().contiguous(), logits.detach()


@dataclass
class _State:
    """The images still iterating, one row each (rows leave when ``stop_when_fooled`` sees them fall)."""

    where: torch.Tensor  # their rows in the batch
    x: torch.Tensor
    y: torch.Tensor
    target: torch.Tensor | None
    cur: torch.Tensor
    prev: torch.Tensor
    grad: torch.Tensor
    loss: torch.Tensor  # at ``cur`` (before any restart: the loss the next rise is measured against)
    best: torch.Tensor  # the highest-loss point, its loss and gradient
    best_loss: torch.Tensor
    best_grad: torch.Tensor
    step: torch.Tensor  # per image
    rises: torch.Tensor  # steps since the last checkpoint on which the loss rose
    mark_loss: torch.Tensor  # best loss at the last checkpoint
    halved: torch.Tensor  # whether the step halved at the last checkpoint

    def keep(self, rows: torch.Tensor) -> "_State":
        kept: dict[str, Any] = {k: None if v is None else v[rows] for k, v in vars(self).items()}
        return replace(self, **kept)


def ascent(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    settings: AscentSettings,
    loss: Loss,
    start: torch.Tensor,
    target: torch.Tensor | None = None,
) -> Run:
    """One APGD run from ``x + eps * start`` (``start`` in [-1, 1]); see the module's notes."""
    eps, iterations = settings.eps, settings.iterations
    n, cur = len(x), (x + eps * start).clamp(0.0, 1.0)
    value, grad, logits = _loss_grad(model, cur, y, loss, target)
    fooled = logits.argmax(1) != y
    x_adv, best_loss_out = cur.clone(), value.clone()  # the kept point: fooled, or the best loss
    step = torch.full((n,), 2.0 * eps, dtype=x.dtype, device=x.device)
    s = _State(
        where=torch.arange(n, device=x.device), x=x, y=y, target=target,
        cur=cur, prev=cur.clone(), grad=grad, loss=value,
        best=cur.clone(), best_loss=value.clone(), best_grad=grad.clone(),
        step=step, rises=torch.zeros(n, device=x.device), mark_loss=value.clone(),
        halved=torch.ones(n, dtype=torch.bool, device=x.device),
    )  # fmt: skip
    steps = torch.full((iterations, n), math.nan, dtype=x.dtype) if settings.record else None
    if settings.stop_when_fooled:
        s = s.keep(~fooled)
    marks, last_mark = set(checkpoints(iterations)), 0
    for i in range(1, iterations + 1):
        if len(s.where) == 0:
            break
        if steps is not None:
            steps[i - 1, s.where.cpu()] = s.step.cpu()
        a = MOMENTUM if i > 1 else 1.0
        with torch.no_grad():
            z = _project(s.cur + _per_image(s.step, s.cur) * s.grad.sign(), s.x, eps)
            new = _project(s.cur + a * (z - s.cur) + (1 - a) * (s.cur - s.prev), s.x, eps)
        s.prev, s.cur = s.cur, new
        value, s.grad, logits = _loss_grad(model, new, s.y, loss, s.target)
        s.rises += (value > s.loss).to(s.rises.dtype)
        s.loss = value
        better = value > s.best_loss
        s.best[better], s.best_grad[better], s.best_loss[better] = new[better], s.grad[better], value[better]
        wrong = logits.argmax(1) != s.y
        fooled[s.where[wrong]] = True
        x_adv[s.where[wrong]] = new[wrong]
        best_loss_out[s.where] = s.best_loss
        if i in marks:
            _checkpoint(s, i - last_mark, settings.rho)
            last_mark = i
        if settings.stop_when_fooled and wrong.any():
            s = s.keep(~wrong)
    never = ~fooled
    x_adv[never] = _best_points(x_adv, s, never)
    return Run(x_adv, fooled, best_loss_out, steps)


def _checkpoint(s: _State, interval: int, rho: float) -> None:
    """Halve the step where the loss rose too rarely, or where neither the step nor the best loss
    changed since the last checkpoint; those images restart from their best point."""
    flat = ~s.halved & (s.best_loss <= s.mark_loss)
    halve = (s.rises <= rho * interval) | flat
    s.step[halve] /= 2.0
    s.cur[halve], s.grad[halve] = s.best[halve], s.best_grad[halve]
    s.halved, s.mark_loss = halve, s.best_loss.clone()
    s.rises.zero_()


def _best_points(x_adv: torch.Tensor, s: _State, never: torch.Tensor) -> torch.Tensor:
    """The highest-loss points of the never-fooled images (all still iterating at the end)."""
    out = x_adv.clone()
    out[s.where] = s.best
    return out[never]
