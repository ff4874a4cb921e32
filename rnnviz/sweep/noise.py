"""The noise baseline, matched to the attack where the model sees it.

A model with a grayscale front averages the three colour channels first, so independent signs per
RGB channel shrink in its input (mean |delta| about eps / 2 instead of eps), while an attack's
gradient, and so its signs, are equal across the channels. The baseline must have the attack's
structure and size in the model's own input, not in RGB: ``probe_front`` finds out how the model
reads its input (the input gradient of a random image; equal colour channels -> a grayscale
front) and ``matched_noise`` then shares one sign (or one Gaussian value) per pixel across the
colour channels. ``InputSizes`` measures mean |delta| and L2 of every perturbation in the model's
input, so results.json can show that the baseline and the attack are the same size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rnnviz.sweep import draws

FRONT_TOLERANCE = 1e-4  # largest colour-channel spread of the gradient (relative) read as "equal"
KINDS = ("sign", "gauss")  # the sign control (an FGSM-like step) and a Gaussian of the attack's L2 size


def probe_front(model: torch.nn.Module, like: torch.Tensor, seed: int = 0) -> dict:
    """How ``model`` consumes its input: ``grayscale`` when the input gradient of a random image is
    the same in every colour channel (the model averages them), else ``rgb``. Call in eval mode with
    any hooks paused; the probe image is its own seeded draw, shaped, typed and placed as ``like``."""
    shape = tuple(like.shape[1:])
    x = torch.rand((1, *shape), generator=torch.Generator().manual_seed(seed)).to(like.device, like.dtype)
    x.requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, logits.argmax(1))
        (grad,) = torch.autograd.grad(loss, x)
    scale = float(grad.abs().max())
    spread = float((grad - grad.mean(1, keepdim=True)).abs().max()) / scale if scale > 0 else 0.0
    gray = shape[0] == 3 and scale > 0 and spread <= FRONT_TOLERANCE
    return {
        "front": "grayscale" if gray else "rgb",
        "shared_across_channels": gray,
        "gradient_channel_spread": spread,
        "rule": "input gradient of a random image: equal colour channels -> grayscale front",
    }


def model_input(delta: torch.Tensor, front: str) -> torch.Tensor:
    """A perturbation as the model sees it: the channel mean for a grayscale front, else itself."""
    return delta.mean(1, keepdim=True) if front == "grayscale" else delta


@dataclass(frozen=True)
class NoiseControl:
    """Which noise a baseline draws (``kind``: ``sign``, an FGSM-like step, or ``gauss``, a Gaussian of
    the attack's L2 size), sized in the norm of the attack it stands beside (``norm``) as the model
    sees its input (``front``, from ``probe_front``)."""

    norm: str
    front: str
    kind: str = "sign"


def matched_noise(x: torch.Tensor, eps: float, seed: int, indices: torch.Tensor, control: NoiseControl) -> torch.Tensor:
    """``clamp(x + delta, 0, 1)`` with delta the attack's size in the model's input, blind to the model.

    ``sign``: +-eps per pixel (Linf) or the same signs at L2 length eps; ``gauss``: a Gaussian
    direction scaled to the attack's L2 size (eps * sqrt(pixels) for Linf, eps for L2). For a
    grayscale front one value per pixel is shared across the colour channels. Each image's draw
    depends only on ``seed``, its global index, eps and the control's kind, so batching changes nothing.
    """
    if eps == 0:
        return x
    shared = control.front == "grayscale" and x.shape[1] == 3
    shape = (1, *x.shape[2:]) if shared else tuple(x.shape[1:])
    pixels = math.prod(shape)
    base = _draw(shape, indices.to(x.device), seed, eps, control.kind).to(x.device, x.dtype)
    if control.kind == "sign":
        delta = base * (eps if control.norm == "linf" else eps / math.sqrt(pixels))
    else:
        length = eps * math.sqrt(pixels) if control.norm == "linf" else eps
        delta = base * (length / base.flatten(1).norm(dim=1).clamp_min(1e-12)).view(-1, 1, 1, 1)
    if shared:
        delta = delta.expand(-1, 3, -1, -1)
    return (x + delta).clamp_(0.0, 1.0).contiguous(memory_format=torch.channels_last)


def sized_noise(
    x: torch.Tensor,
    applied: torch.Tensor,
    eps: float,
    seed: int,
    indices: torch.Tensor,
    control: NoiseControl,
) -> torch.Tensor:
    """``matched_noise``'s draw, rescaled per image to the size of the perturbation ``applied`` to it.

    The attack's perturbation shrinks where clamping to [0, 1] cuts it, and by how much depends on
    the image and the attack; noise sized to eps would be larger than what the attack really did and
    inflate the noise share. Here each image's noise has, in the model's own input and after
    clamping, the attack's measured size: mean |delta| for the sign control of a Linf attack, L2 for
    the sign control of an L2 attack and for the Gaussian control. The per-image scale is found by
    bisection (the clamped size grows monotonically with the scale); the draw itself, and so the
    direction of the noise, is ``matched_noise``'s (a function of seed, global index, eps and kind).
    """
    if eps == 0:
        return x
    front = control.front
    measure = "mean_abs" if control.kind == "sign" and control.norm == "linf" else "l2"
    target = _size(applied, front, measure)
    shared = front == "grayscale" and x.shape[1] == 3
    shape = (1, *x.shape[2:]) if shared else tuple(x.shape[1:])
    base = _draw(shape, indices.to(x.device), seed, eps, control.kind).to(x.device, x.dtype)
    if shared:
        base = base.expand(-1, 3, -1, -1)

    def noisy(scale: torch.Tensor) -> torch.Tensor:
        return (x + base * scale.view(-1, 1, 1, 1)).clamp_(0.0, 1.0)

    low = torch.zeros_like(target)
    high = target / _size(base, front, measure).clamp_min(1e-12)  # the unclamped size's scale
    for _ in range(_MAX_DOUBLINGS):  # clamping only shrinks: grow until the clamped size reaches the target
        short = _size(noisy(high) - x, front, measure) < target
        if not short.any():
            break
        high = torch.where(short, high * 2, high)
    for _ in range(_BISECTIONS):
        mid = (low + high) / 2
        short = _size(noisy(mid) - x, front, measure) < target
        low, high, before = torch.where(short, mid, low), torch.where(short, high, mid), (low, high)
        if torch.equal(low, before[0]) and torch.equal(high, before[1]):
            break  # every bracket is two neighbouring floats: further halvings change nothing
    return noisy(high).contiguous(memory_format=torch.channels_last)


_MAX_DOUBLINGS = 12  # a clamped size that 4096x the unclamped scale cannot reach is out of [0, 1]'s reach
_BISECTIONS = 40  # relative precision 2^-40 of the scale: exact to float32


def _size(delta: torch.Tensor, front: str, measure: str) -> torch.Tensor:
    """Per image, mean |delta| or L2 of a perturbation in the model's input."""
    seen = model_input(delta.float(), front).flatten(1)
    return seen.abs().mean(1) if measure == "mean_abs" else seen.norm(dim=1)


def _draw(shape: tuple[int, ...], indices: torch.Tensor, seed: int, eps: float, kind: str) -> torch.Tensor:
    """Per image: signs in {-1, +1} or standard normal values, counter-based from (seed, index, eps,
    kind) (``rnnviz.sweep.draws``): a whole batch at once, on the indices' device."""
    if kind not in KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; expected one of {', '.join(KINDS)}")
    stream, n = draws.stream_of("matched_noise", float(eps), kind), math.prod(shape)
    if kind == "sign":
        values = draws.signs(seed, stream, indices, n).to(torch.float32).mul_(2).sub_(1)
    else:
        values = draws.normal(seed, stream, indices, n)
    return values.view(len(indices), *shape)


class InputSizes:
    """Per (eps index, perturbation), running sums of each image's mean |delta| and L2 in the model's
    input (``model_input``): the check that the baseline is the attack's size where it counts.

    Each attack has its own noise (``sized_noise``), recorded as ``noise@ATTACK`` and ``gauss@ATTACK``;
    ``means(e, attack)`` reads them back as ``noise`` and ``gauss`` beside every attack's own size."""

    def __init__(self, front: str):
        self.front = front
        self.sums: dict[tuple[int, str], list[float]] = {}

    def add(self, e: int, name: str, delta: torch.Tensor) -> None:
        seen = model_input(delta.detach().float(), self.front).flatten(1)
        part = [float(seen.abs().mean(1).sum()), float(seen.norm(dim=1).sum()), float(len(seen))]
        old = self.sums.get((e, name), [0.0, 0.0, 0.0])
        self.sums[(e, name)] = [a + b for a, b in zip(old, part)]

    def merge(self, other: InputSizes) -> InputSizes:
        for key, part in other.sums.items():
            old = self.sums.get(key, [0.0, 0.0, 0.0])
            self.sums[key] = [a + b for a, b in zip(old, part)]
        return self

    def means(self, e: int, attack: str | None = None) -> dict[str, dict[str, float]]:
        """Perturbation name -> mean |delta| and mean L2 per image at eps index e; the noise of
        ``attack`` (the one the report quotes) appears as ``noise`` and ``gauss``."""
        out = {}
        for (i, name), s in sorted(self.sums.items()):
            if i != e or s[2] <= 0:
                continue
            kind, _, of = name.partition("@")
            if of and of != attack:
                continue
            out[kind] = {"mean_abs": s[0] / s[2], "l2": s[1] / s[2]}
        return out
