"""Image parameterizations: lucent's decorrelated Fourier image (``lucid``), plain pixels
(``raw``) or a real image plus a decorrelated Fourier residual (``accent``), one per batch
element, each from its own seed, on the render's device.

lucent keeps the device in a module global (``param.spatial.device``: cuda:0 whenever CUDA
exists) and colour-decorrelates on that device, so both are redone here on ours.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import torch
from lucent.optvis.param import color, spatial

RAW_NOISE = 0.01  # raw recipe starts at grey 0.5 plus this much Gaussian noise
# accent recipe: the residual is scaled by the sigmoid's slope at 0, so an Adam step moves a pixel
# about as far as the same step moves a mid-grey pixel of a lucid image.
ACCENT_GAIN = 0.25


Params = list[list[torch.Tensor]]  # per batch element, the tensors its image is made from
ImageFn = Callable[[list[int]], torch.Tensor]  # element indices -> their RGB images in [0, 1]


def images(
    seeds: list[int], *, recipe: str, size: int, gray: bool, dev: torch.device, start: torch.Tensor | None = None
) -> tuple[Params, ImageFn]:
    """One lucent image per seed; returns (each element's params, fn giving the RGB images in
    [0, 1] of the elements asked for). Every element has parameters of its own, so an element
    left out of the batch (it reached its target) gets no gradient and its optimizer skips it.

    ``accent`` also needs ``start``, the real images (N, 3, size, size) in [0, 1] the batch begins
    from: the function returns exactly ``start`` until the first step.
    """
    if recipe == "accent":
        if start is None:
            raise ValueError("the accent recipe starts from real images: pass start")
        return accent_images(start.to(dev), gray=gray, dev=dev)
    shape = [1, 1 if gray else 3, size, size]
    parts = []
    with lucent_device(dev):
        for seed in seeds:
            torch.default_generator.manual_seed(seed)
            if recipe == "lucid":
                parts.append(spatial.fft_image(shape))
            else:
                parts.append(spatial.pixel_image(shape, sd=RAW_NOISE))
    params = [list(ps) for ps, _ in parts]
    fns = [fn for _, fn in parts]
    to_rgb = lucid_rgb if recipe == "lucid" else raw_rgb
    return params, lambda idx: to_rgb(torch.cat([fns[k]() for k in idx]), gray)


def accent_images(start: torch.Tensor, *, gray: bool, dev: torch.device) -> tuple[Params, ImageFn]:
    """``clamp(start + residual, 0, 1)``, the residual a lucent Fourier image (1/f spectrum,
    colour-decorrelated like ``lucid``) whose spectrum starts at zero, so the first image IS
    ``start``; no sigmoid, since real images hold exact 0 and 1, which a sigmoid never reaches."""
    n, _, h, w = start.shape
    with lucent_device(dev):
        parts = [spatial.fft_image([1, 1 if gray else 3, h, w]) for _ in range(n)]
    with torch.no_grad():
        for spectrum, _ in parts:
            spectrum[0].zero_()
    m = torch.as_tensor(color.color_correlation_normalized, device=dev)

    def image(idx: list[int]) -> torch.Tensor:
        t = torch.cat([parts[k][1]() for k in idx])
        residual = t.expand(-1, 3, -1, -1) if gray else torch.einsum("bchw,dc->bdhw", t, m)
        return (start[idx] + ACCENT_GAIN * residual).clamp(0, 1)

    return [list(spectrum) for spectrum, _ in parts], image


@contextmanager
def lucent_device(dev: torch.device):
    """Point lucent's module-global device at ours while parameterizing, and put the previous
    value back afterwards (also on error): other lucent users in the process keep theirs."""
    previous = spatial.device
    spatial.device = dev
    try:
        yield
    finally:
        spatial.device = previous


def lucid_rgb(t: torch.Tensor, gray: bool) -> torch.Tensor:
    """lucent's colour decorrelation and sigmoid, on the image's own device (lucent's picks cuda:0)."""
    if gray:
        return torch.sigmoid(t).expand(-1, 3, -1, -1)
    m = torch.as_tensor(color.color_correlation_normalized, device=t.device)
    return torch.sigmoid(torch.einsum("bchw,dc->bdhw", t, m))


def raw_rgb(t: torch.Tensor, gray: bool) -> torch.Tensor:
    """Pixels are stored centred on grey (so clamping to +-0.5 keeps them in [0, 1])."""
    return (t + 0.5).expand(-1, 3, -1, -1) if gray else t + 0.5


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [0, 1] -> uint8 (N, H, W, 3), what the PNGs hold."""
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
