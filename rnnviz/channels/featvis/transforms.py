"""Lucid's transformation robustness as one batched affine warp.

lucent applies one random draw to the whole batch from numpy's global RNG; here every image
gets its own draw from its own generator, so a channel's render does not depend on which
channels share its batch, nor on anyone else's use of numpy's RNG.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Lucid's default transforms at 224 px (pad 12, jitter 8 then 4, scale 0.9-1.1, rotate +-10 deg),
# scaled to the model's input size.
PAD_PX, JITTER_PX, SCALE_RANGE, ROTATE_DEG = 12, 6, 0.1, 10
ACCENT_JITTER_PX = 4  # the accent recipe's jitter (at 224 px): light, the image must stay itself


def transform(images: torch.Tensor, gens: list[torch.Generator], px: float) -> torch.Tensor:
    """Grey padding, jitter, scale and rotation, one draw per image from ``gens``; ``px`` scales
    Lucid's 224 px pixel amounts to the model's input size."""
    n, c, size, _ = images.shape
    pad = max(1, round(PAD_PX * px))
    out = size + 2 * pad
    theta = torch.stack([affine(g, size, out, px) for g in gens]).to(images.device)
    grid = F.affine_grid(theta, [n, c, out, out], align_corners=False)
    return F.grid_sample(images - 0.5, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 0.5


def affine(gen: torch.Generator, size: int, out: int, px: float) -> torch.Tensor:
    """The 2x3 matrix mapping output coordinates to the source image (normalized, align_corners=False)."""
    u = torch.rand(4, generator=gen, dtype=torch.float64) * 2 - 1
    scale = 1 + SCALE_RANGE * u[0]
    angle = math.radians(ROTATE_DEG) * u[1]
    shift = JITTER_PX * px * u[2:] * 2 / size  # pixels -> normalized source units
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.stack([torch.stack([cos, sin]), torch.stack([-sin, cos])])
    linear = rot * (out / size) / scale
    return torch.cat([linear, (-rot @ shift / scale)[:, None]], dim=1).float()


def jitter(images: torch.Tensor, gens: list[torch.Generator], px: float) -> torch.Tensor:
    """The accent recipe's light jitter: a whole-pixel shift of up to ``ACCENT_JITTER_PX`` (at
    224 px, at least 1) per image, borders reflected; no padding, scaling or rotation, so what
    the model sees is the image being accentuated, moved by a pixel or two."""
    n, c, h, w = images.shape
    limit = max(1, round(ACCENT_JITTER_PX * px))
    shifts = torch.stack([torch.randint(-limit, limit + 1, (2,), generator=g) for g in gens]).double()
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = shifts[:, 0] * 2 / w  # whole pixels in normalized units: samples land on pixel centres
    theta[:, 1, 2] = shifts[:, 1] * 2 / h
    grid = F.affine_grid(theta.float().to(images.device), [n, c, h, w], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
