"""Feature visualization: batched, truncated, cached channel renders built on lucent.

lucent's ``render_vis`` renders one channel per call, leaves a hook on every module,
computes weight gradients and draws its transforms from numpy's global RNG. This package
keeps lucent's parameterization (``param.spatial``, ``param.color``) and objectives
(``objectives.channel``, ``objectives.diversity``) and runs its own loop instead:

* all channels of one model in one optimization (batch dim = channel, ``chunk`` at a time),
  each batch element with its own seed and its own random transform per step (``loop``,
  ``param``, ``transforms``, ``objectives``);
* the forward pass stops after the last target layer (``rnnviz.sweep.hooks.LayerHooks``);
* weights frozen, ReLU gradient pass-through for the first steps and while a channel is still
  flat (lucent issues #9, #34), the model put back exactly as found (``modelstate``);
* every render cached under ``cache_dir("renders")``, keyed by weights and settings
  (``settings``, ``rendercache``); ``engine`` ties these together.

Three recipes: ``lucid`` (Olah et al. 2017: decorrelated Fourier image, transformation
robustness, Adam 0.05) and ``raw`` (Engstrom et al. 2019: pixel-space normalized-L2 ascent from
grey, no prior). Robust models show recognisable shapes even under ``raw``; standard models give
noise there and need lucid's prior, so showing both recipes reveals the difference. ``accent``
(feature accentuation, Hamblin et al. 2024) starts from the channel's best real image and shows
what the channel would amplify in it: the image is ``clamp(seed + residual, 0, 1)`` with a
decorrelated Fourier residual that starts at zero (so step 0 is the seed exactly), optimized with
Adam 0.05 under a light whole-pixel jitter to raise the channel's mean activation, in units of the
seed's own, minus ``objectives.ACCENT_PULL`` (10) times the mean squared pixel distance to the seed.
It renders at the seed's size, has no diversity images, and skips channels without a seed image;
each cache entry's key holds a digest of its seed image. On the built-in Fashion pair (512
steps, 15 sampled channels of layer3 and layer4) the robust model's accentuations moved the
image by an RMS of 0.05-0.16 and raised the channel 1.1-2x; the standard model's by 0.12-0.25
with high-frequency texture, raising it 1.6-3.7x.

Reproducibility: a channel's initial image and transform draws depend only on ``seed``, layer
and channel, so the same call on the same CPU and versions gives identical PNG bytes. Renders
of one channel batched with different neighbours can differ by float rounding, and on CUDA
``grid_sample``'s backward accumulates with atomics, so GPU renders may differ in the last bits.

Only the names below are the public API; callers look them up on this package at call time
(``from rnnviz import featvis; featvis.render_channels(...)``), so tests can replace them.
"""

from __future__ import annotations

from rnnviz.channels.featvis.engine import Render, render_channels
from rnnviz.channels.featvis.settings import QUALITY, RENDER_VERSION, ModelFacts, Quality, RenderRequest
from rnnviz.common.names import RECIPES

__all__ = [
    "QUALITY",
    "RECIPES",
    "RENDER_VERSION",
    "ModelFacts",
    "Quality",
    "Render",
    "RenderRequest",
    "render_channels",
]
