"""The model's state during a render, and how it is put back.

A render needs eval mode, frozen weights (no weight gradients: 1.5x faster), channels-last
weights on CPU and, for some steps, a ReLU whose gradient passes through. The caller's model
must come out exactly as it went in, also on error, so every change lives in a context manager.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def render_mode(model: nn.Module, channels_last: bool):
    """Eval mode, frozen weights and (on CPU) channels-last conv weights for the render, then
    every flag and the original weight tensors themselves put back."""
    grads = [(p, p.requires_grad) for p in model.parameters()]
    modes = [(m, m.training) for m in model.modules()]
    weights = [(p, p.data) for p in model.parameters() if channels_last and p.dim() == 4]
    model.eval().requires_grad_(False)
    for p, data in weights:
        p.data = data.contiguous(memory_format=torch.channels_last)
    try:
        yield
    finally:
        for p, data in weights:
            p.data = data
        for p, flag in grads:
            p.requires_grad_(flag)
        for m, flag in modes:
            m.training = flag


class PassthroughReLU(torch.autograd.Function):
    """ReLU whose gradient also reaches negative inputs, but only where it would raise them and
    only for images whose ordinary ReLU gradient is zero (Lucid's redirected ReLU; without it
    some channels stay flat grey, lucent issues #9, #34)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        relu_grad = torch.where(x > 0, grad, 0)
        blocked = ~relu_grad.any(dim=tuple(range(1, x.dim())))
        if not blocked.any():
            return relu_grad
        redirected = torch.where((x < 0) & (grad > 0), 0, grad)
        return torch.where(blocked.view(-1, *[1] * (x.dim() - 1)), redirected, relu_grad)


@contextmanager
def relu_passthrough(model: nn.Module):
    """Swap every ``nn.ReLU``'s forward for the pass-through one; the modules themselves stay
    (replacing modules would break hooks and ``get_submodule`` paths the caller holds)."""
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    saved = [(m, m.__dict__["forward"]) for m in relus if "forward" in m.__dict__]
    for m in relus:
        m.forward = PassthroughReLU.apply  # type: ignore[method-assign]  # instance attribute, undone below
    try:
        yield
    finally:
        for m in relus:
            del m.forward
        for m, forward in saved:
            m.forward = forward  # type: ignore[method-assign]
