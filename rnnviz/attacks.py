"""FGSM and Linf PGD in [0, 1] pixel units, against true labels, in eval mode.

FGSM needs one gradient per image for every epsilon: ``x' = clamp(x + eps * sign(g), 0, 1)``
with the same ``g``, so ``input_gradient`` is computed once and ``fgsm_step`` is applied
per epsilon. At eps = 0 both attacks return the input itself, so eps = 0 accuracy is
clean accuracy exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .fileio import key_digest


@dataclass(frozen=True)
class PGDSettings:
    """Madry et al. Linf PGD; ``step_size=None`` means 2.5 * eps / steps."""

    steps: int = 10
    step_size: float | None = None
    random_start: bool = True

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
    generator: torch.Generator | None = None,
    *,
    seed: int = 0,
    indices: torch.Tensor | None = None,
) -> torch.Tensor:
    """Projected gradient descent in the Linf ball of radius ``eps`` around ``x``.

    The random start is drawn per image from (``seed``, its global index in ``indices``) when
    given, so the same image gets the same attack in any batch; else from ``generator``.
    """
    if eps == 0:
        return x
    step = settings.step_for(eps)
    x_adv = x.clone()
    if settings.random_start:
        noise = (
            _start(x.shape[1:], seed, indices)
            if indices is not None
            else torch.rand(x.shape, generator=generator, device="cpu")
        ).to(x.device)
        x_adv = (x + (2 * noise - 1) * eps).clamp_(0.0, 1.0)
    for _ in range(settings.steps):
        grad, _ = input_gradient(model, x_adv, y)
        x_adv = x_adv + step * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp_(0.0, 1.0)
    return x_adv.detach()


def sign_noise(x: torch.Tensor, eps: float, seed: int, indices: torch.Tensor) -> torch.Tensor:
    """The noise baseline: ``clamp(x + eps * s, 0, 1)`` with s uniform in {-1, +1} per pixel.

    Same size as an FGSM step but blind to the model; each image's signs depend only on ``seed``,
    its global index and eps, so batching changes nothing.
    """
    if eps == 0:
        return x
    signs = torch.stack([_signs(x.shape[1:], seed, int(i), eps) for i in indices]).to(x.device, x.dtype)
    return (x + eps * signs).clamp_(0.0, 1.0).contiguous(memory_format=torch.channels_last)


def _start(shape, seed: int, indices: torch.Tensor) -> torch.Tensor:
    """PGD's uniform random start in [0, 1), one seeded draw per image."""
    gens = [torch.Generator().manual_seed(int(key_digest(pgd_start=(seed, int(i)))[:15], 16)) for i in indices]
    return torch.stack([torch.rand(tuple(shape), generator=g) for g in gens])


def _signs(shape, seed: int, index: int, eps: float) -> torch.Tensor:
    gen = torch.Generator().manual_seed(int(key_digest(noise=(seed, index, repr(float(eps))))[:15], 16))
    return torch.randint(0, 2, tuple(shape), generator=gen).float() * 2 - 1
