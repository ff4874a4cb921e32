"""The model passes every measurement shares: eval mode, a forward without gradients, an attack
with the layer hooks silent, and the NaN check. Torch only, below every measure and channel map,
so any of them can import it without a cycle."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from rnnviz.common.errors import UsageError
from rnnviz.common.names import BIG
from rnnviz.sweep.attacks import attack, fgsm_step
from rnnviz.sweep.draws import Starts
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


@dataclass(frozen=True)
class Batching:
    """How a pass walks a shard of images: ``batch_size`` at a time on ``device``; ``first_index`` is
    the global index of the shard's first image (the key of its random draws), so shards merge exactly."""

    batch_size: int
    device: str
    first_index: int = 0


@dataclass(frozen=True)
class CleanBatch:
    """A batch as every attack on it starts: the images ``x`` and labels ``y`` on the model's device,
    the images' global ``index`` (the key of each image's random draws) and FGSM's input gradient
    ``grad`` from the clean pass (None where the clean pass took none)."""

    x: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor
    grad: torch.Tensor | None


def adversarial(model, hooks: LayerHooks, clean: CleanBatch, eps_value: float, s: SweepSettings, name: str = ""):
    """``clean.x`` under attack ``name`` (default: the settings' attack), with the hooks silent
    meanwhile. FGSM steps along the clean pass's gradient where it has one, so a sweep over many eps
    costs one backward pass."""
    name = name or s.attack
    with hooks.paused():
        if name == "fgsm" and clean.grad is not None:
            return fgsm_step(clean.x, clean.grad, eps_value)
        return attack(name, model, clean.x, clean.y, eps_value, s.pgd, Starts(s.seed, clean.index))


class NonFiniteOutput(UsageError):
    """NaN or inf logits: averaging them would silently corrupt every number downstream."""


def check_finite(logits: torch.Tensor) -> None:
    if not torch.isfinite(logits).all():
        raise NonFiniteOutput("produced NaN or inf logits; check the checkpoint and its normalization")


def check_activations(activations: dict[str, torch.Tensor]) -> None:
    """Every recorded value finite and within ``BIG / 2`` (so a difference of two stays within ``BIG``):
    sigma and the peaks are made of these, and a results.json holding a number beyond ``BIG`` is one
    ``--from`` refuses, after the whole run was spent on it."""
    if not activations:
        return
    peaks = torch.stack(
        [
            a.detach().abs().amax().float() if a.numel() else a.new_zeros((), dtype=torch.float32)
            for a in activations.values()
        ]
    )
    if bool((peaks <= BIG / 2).all()):  # NaN compares False
        return
    bad = int((~(peaks <= BIG / 2)).nonzero()[0])
    name, peak = list(activations)[bad], float(peaks[bad])
    size = "NaN or inf" if not math.isfinite(peak) else f"values up to {peak:.3g}"
    raise NonFiniteOutput(
        f"outputs {size} at layer '{name}', beyond the {BIG / 2:g} whose changes results.json can hold; "
        "check the checkpoint and its normalization"
    )
