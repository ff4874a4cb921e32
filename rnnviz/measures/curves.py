"""FGSM accuracy on a fine epsilon grid: one gradient per image, then one forward pass per eps.

The sensitivity analysis keeps the user's (short) eps list; the accuracy curve can afford many
points because FGSM's step direction does not depend on eps.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rnnviz.sweep.attacks import fgsm_step, input_gradient
from rnnviz.sweep.passes import eval_mode, forward_no_grad


def eps_grid(eps: list[float], points: int) -> list[float]:
    """``points`` evenly spaced eps from 0 to the largest of ``eps``; empty when off or nothing to span."""
    top = max(eps, default=0.0)
    if points < 2 or top <= 0:
        return []
    return [round(float(v), 12) for v in np.linspace(0.0, top, points)]


def fgsm_curve(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, grid: list[float], batch_size: int, device: str
) -> np.ndarray:
    """Correct count per grid eps under FGSM (against true labels, in eval mode)."""
    correct = np.zeros(len(grid), dtype=np.int64)
    with eval_mode(model):
        for start in range(0, len(labels), batch_size):
            x = images[start : start + batch_size].to(device, memory_format=torch.channels_last)
            y = labels[start : start + batch_size].to(device)
            grad, logits = input_gradient(model, x, y)
            for g, eps in enumerate(grid):
                out = logits if eps == 0 else forward_no_grad(model, fgsm_step(x, grad, eps))
                correct[g] += int((out.argmax(1) == y).sum())
    return correct
