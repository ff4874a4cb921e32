"""FGSM, Linf PGD, L2 PGD and the Linf APGD pair in [0, 1] pixel units, against true labels, in eval mode.

FGSM needs one gradient per image for every epsilon: ``x' = clamp(x + eps * sign(g), 0, 1)``
with the same ``g``, so ``input_gradient`` is computed once and ``fgsm_step`` is applied
per epsilon. L2 PGD measures eps as the L2 norm of the whole per-image perturbation (the unit
MadryLab's L2-trained models are trained in), so its eps are not comparable with the Linf ones;
``ATTACK_NORM`` says which norm each attack's eps is in. At eps = 0 every attack returns the
input itself, so eps = 0 accuracy is clean accuracy exactly. APGD-CE (``apgd``) and APGD-T
(``apgd-t``) live in ``rnnviz.sweep.apgd``. ``attack`` is the one dispatch by name the engine uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnviz.common.names import NORMS
from rnnviz.sweep import draws
from rnnviz.sweep.apgd import FAST, APGDSettings, apgd, apgd_t
from rnnviz.sweep.draws import Starts

ATTACK_NORM = NORMS  # the norm each attack's eps is measured in (one home: rnnviz.common.names)
_DIVISION_EPS = 1e-10  # torchattacks' and MadryLab's guard against a zero gradient or perturbation norm


@dataclass(frozen=True)
class PGDSettings:
    """Madry et al. PGD (Linf and L2); ``step_size=None`` means 2.5 * eps / steps. ``apgd``: the
    iterations and targets of APGD-CE and APGD-T where they are analysis attacks (``--attack apgd``)."""

    steps: int = 10
    step_size: float | None = None
    random_start: bool = True
    apgd: APGDSettings = FAST

    def step_for(self, eps: float) -> float:
        return self.step_size if self.step_size is not None else 2.5 * eps / self.steps


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the summed cross-entropy w.r.t. the input, and the clean logits.

    Summed, not averaged, so each image's gradient does not depend on the batch size.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad, logits.detach()


def fgsm_step(x: torch.Tensor, grad: torch.Tensor, eps: float) -> torch.Tensor:
    """One signed step of size ``eps``, clamped to the valid pixel range."""
    if eps == 0:
        return x
    return (x + eps * grad.sign()).clamp_(0.0, 1.0)


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015) for one epsilon."""
    if eps == 0:
        return x
    grad, _ = input_gradient(model, x, y)
    return fgsm_step(x, grad, eps)


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    settings: PGDSettings = PGDSettings(),
    starts: Starts = Starts(),
) -> torch.Tensor:
    """Projected gradient descent in the Linf ball of radius ``eps`` around ``x``; the random start
    is drawn as ``starts`` says (per image, whatever the batch, where it has the images' indices)."""
    return _projected_descent(_LINF, model, x, y, eps, settings, starts)


def pgd_l2(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    settings: PGDSettings = PGDSettings(),
    starts: Starts = Starts(),
) -> torch.Tensor:
    """Projected gradient descent in the L2 ball of radius ``eps`` around each image.

    torchattacks' PGDL2 order (which is MadryLab's): step ``size * g / (||g|| + 1e-10)``, scale the
    perturbation back into the ball, clamp to [0, 1]. The random start is a Gaussian direction at a
    radius uniform in [0, eps), as torchattacks draws it, drawn as ``starts`` says.
    """
    return _projected_descent(_L2, model, x, y, eps, settings, starts)


@dataclass(frozen=True)
class _Ball:
    """What one norm's PGD does its own way: the random start, the step along the gradient and the
    projection back into the ball (and [0, 1]); ``_projected_descent`` is the loop both share."""

    start: Callable[[torch.Tensor, float, Starts], torch.Tensor]
    step: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]  # x_adv, grad, step size
    project: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]  # x_adv, x, eps


def _projected_descent(
    ball: _Ball,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    settings: PGDSettings,
    starts: Starts,
) -> torch.Tensor:
    if eps == 0:
        return x
    step = settings.step_for(eps)
    x_adv = ball.start(x, eps, starts) if settings.random_start else x.clone()
    for _ in range(settings.steps):
        grad, _ = input_gradient(model, x_adv, y)
        x_adv = ball.project(ball.step(x_adv, grad, step), x, eps)
    return x_adv.detach()


def _linf_start(x, eps: float, starts: Starts) -> torch.Tensor:
    noise = (
        _start(x.shape[1:], starts.seed, starts.indices.to(x.device))  # counter-based draws on x's device
        if starts.indices is not None
        else torch.rand(x.shape, generator=starts.generator, device="cpu")
    ).to(x.device)
    return (x + (2 * noise - 1) * eps).clamp_(0.0, 1.0)


def _l2_random_start(x, eps: float, starts: Starts) -> torch.Tensor:
    direction, radius = (
        _l2_start(x.shape[1:], starts.seed, starts.indices.to(x.device))
        if starts.indices is not None
        else (
            torch.randn(x.shape, generator=starts.generator, device="cpu"),
            torch.rand(len(x), generator=starts.generator, device="cpu"),
        )
    )
    direction, radius = direction.to(x.device, x.dtype), radius.to(x.device, x.dtype)
    delta = direction * _per_image(radius * eps / _norms(direction), x)
    return (x + delta).clamp_(0.0, 1.0)


def _l2_project(x_adv, x, eps: float) -> torch.Tensor:
    delta = x_adv - x
    factor = torch.clamp(eps / _norms(delta), max=1.0)
    return (x + delta * _per_image(factor, x)).clamp_(0.0, 1.0)


def _per_image(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(n,) per-image values shaped to broadcast over ``x``'s (n, ...) images."""
    return values.view(-1, *[1] * (x.dim() - 1))


_LINF = _Ball(
    start=_linf_start,
    step=lambda x_adv, grad, step: x_adv + step * grad.sign(),
    project=lambda x_adv, x, eps: torch.min(torch.max(x_adv, x - eps), x + eps).clamp_(0.0, 1.0),
)
_L2 = _Ball(
    start=_l2_random_start,
    step=lambda x_adv, grad, step: x_adv + step * grad / _per_image(_norms(grad) + _DIVISION_EPS, grad),
    project=_l2_project,
)


def attack(
    name: str,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    settings: PGDSettings = PGDSettings(),
    starts: Starts = Starts(),
) -> torch.Tensor:
    """The adversarial images of attack ``name`` (a key of ``ATTACK_NORM``) at ``eps``: PGD's
    settings and random starts as in ``pgd`` / ``pgd_l2``, APGD's (``settings.apgd``) as in
    ``rnnviz.sweep.apgd``. A sweep steps FGSM along its clean pass's gradient (``fgsm_step``) instead."""
    if name == "fgsm":
        return fgsm(model, x, y, eps)
    if name == "pgd":
        return pgd(model, x, y, eps, settings, starts)
    if name == "pgd-l2":
        return pgd_l2(model, x, y, eps, settings, starts)
    if name in ("apgd", "apgd-t"):
        run = apgd if name == "apgd" else apgd_t
        return run(model, x, y, eps, settings.apgd, starts)
    raise ValueError(f"unknown attack {name!r}; expected one of {', '.join(ATTACK_NORM)}")


_PGD_START, _PGD_L2_START, _PGD_L2_RADIUS = (draws.stream_of(n) for n in ("pgd_start", "pgd_l2_start", "pgd_l2_radius"))


def _start(shape, seed: int, indices: torch.Tensor) -> torch.Tensor:
    """PGD's uniform random start in [0, 1) per image, on ``indices``' device (issue 26: counter-based)."""
    return draws.uniform(seed, _PGD_START, indices, math.prod(shape), torch.float32).view(len(indices), *shape)


def _l2_start(shape, seed: int, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """L2 PGD's random start per image: a Gaussian direction and a radius in [0, 1) (issue 26: counter-based)."""
    direction = draws.normal(seed, _PGD_L2_START, indices, math.prod(shape)).view(len(indices), *shape)
    return direction, draws.uniform(seed, _PGD_L2_RADIUS, indices, 1, torch.float32)[:, 0]


def _norms(t: torch.Tensor) -> torch.Tensor:
    """Per-image L2 norm over all pixels (any memory layout)."""
    return t.flatten(1).norm(p=2, dim=1)
