"""How textured an image is: the share of its spectral power at high spatial frequency.

The literature (Engstrom et al. 2019, Santurkar et al. 2019) says robust models' visualizations
look like smooth, object-like shapes and standard models' like high-frequency texture. This
module turns that into one number per image, computed the same way for every render, so the
report can measure the claim on its own run instead of citing it:

    high-frequency share = power at radial frequency above ``CUTOFF`` cycles per pixel
                           / power at every frequency but zero,

of the image's luminance (RGB mean), with its mean removed and a Hann window applied (so the
edges, which a discrete Fourier transform wraps around, add no spurious high frequencies).
White noise spreads its power evenly over the frequency square [-1/2, 1/2]^2, so its share is
the area outside the disc of radius ``CUTOFF``, 1 - pi/16 = 0.80; a smooth blob's is near 0.
Lower means smoother, larger shapes; higher means finer texture. numpy only: the report reads it.
"""

from __future__ import annotations

import math

import numpy as np

CUTOFF = 0.25  # cycles per pixel: periods shorter than 4 px count as texture
BOOTSTRAP = 2000  # resamples of the channels for the comparison's interval
LEVEL = 0.95


def high_frequency_share(image: np.ndarray, cutoff: float = CUTOFF) -> float:
    """The share (0..1) of the image's non-DC luminance power above ``cutoff`` cycles per pixel.

    ``image``: (H, W) grey or (H, W, C) colour, any numeric dtype. A constant image has no power
    to share out and gives nan."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 3:
        a = a.mean(axis=2)
    if a.ndim != 2 or min(a.shape) < 2:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {np.shape(image)}")
    h, w = a.shape
    a = (a - a.mean()) * np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2(a)) ** 2
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij"))
    ac = power[radius > 0].sum()
    if ac <= 0:
        return math.nan
    return float(power[radius > cutoff].sum() / ac)


def compare(standard: list[float], robust: list[float], seed: int = 0) -> dict | None:
    """Mean share of the standard model's renders minus the robust model's, with a percentile
    bootstrap interval that resamples each model's channels independently (the two models'
    channels are unaligned, so there are no pairs). ``None`` with fewer than two of either."""
    s = np.asarray([v for v in standard if math.isfinite(v)], dtype=np.float64)
    r = np.asarray([v for v in robust if math.isfinite(v)], dtype=np.float64)
    if len(s) < 2 or len(r) < 2:
        return None
    rng = np.random.default_rng(seed)
    boot = s[rng.integers(0, len(s), (BOOTSTRAP, len(s)))].mean(axis=1) - r[
        rng.integers(0, len(r), (BOOTSTRAP, len(r)))
    ].mean(axis=1)
    low, high = np.quantile(boot, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return {
        "standard_mean": float(s.mean()),
        "robust_mean": float(r.mean()),
        "difference": float(s.mean() - r.mean()),
        "low": float(low),
        "high": float(high),
        "n_standard": len(s),
        "n_robust": len(r),
    }
