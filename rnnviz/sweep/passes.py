"""The model passes every measurement shares: eval mode, a forward without gradients, an attack
with the layer hooks silent, and the NaN check. Torch only, below every measure and channel map,
so any of them can import it without a cycle."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from rnnviz.common.errors import UsageError
from rnnviz.sweep.attacks import attack
from rnnviz.sweep.hooks import LayerHooks
from rnnviz.sweep.settings import SweepSettings


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Attacks measure the deployed model: BatchNorm on running statistics, no dropout."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, flag in modes:
            m.training = flag


def forward_no_grad(model, x):
    with torch.no_grad():
        return model(x)


def adversarial(model, hooks: LayerHooks, x, y, grad, eps_value: float, s: SweepSettings, index, name: str = ""):
    """``x`` under attack ``name`` (default: the settings' attack), with the hooks silent meanwhile."""
    with hooks.paused():
        return attack(name or s.attack, model, x, y, eps_value, s.pgd, grad=grad, seed=s.seed, indices=index)


class NonFiniteOutput(UsageError):
    """NaN or inf logits: averaging them would silently corrupt every number downstream."""


def check_finite(logits: torch.Tensor) -> None:
    if not torch.isfinite(logits).all():
        raise NonFiniteOutput("produced NaN or inf logits; check the checkpoint and its normalization")
