"""The pictures of a channel card: where on an image a channel fires, how an attack changes that,
and (for the first conv layer) the filter itself.

Maps come from one small forward pass over just the exemplar images (``activation_maps``), through
``LayerHooks``. A map is drawn over its image after bilinear upsampling with ``align_corners=False``
over the whole image: that assumes the feature grid spans the input evenly (each of the h x w cells
covers an (H/h) x (W/w) block of the pixels the model saw, as conv nets with "same" padding and
strided downsampling give). Small images (28 x 28 Fashion) are then enlarged with nearest
neighbours, image and map alike, so each model pixel stays a visible square.

Figures use matplotlib's object API with the Agg canvas (no pyplot, no global state) and are
written atomically, as the report's plots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

from .errors import UsageError
from .fileio import atomic_path
from .hooks import LayerHooks

DISPLAY = 168  # small images are enlarged (nearest) to about this many pixels on their long side
DPI = 100
CMAP = "inferno"
CHANGE_CMAP = "viridis"
FILTER_PIXELS = 96  # a filter image's side after nearest enlargement
PER_CHANNEL = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.GELU,
    nn.SiLU,
    nn.Hardswish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Identity,
    nn.Dropout,
)  # modules that keep a conv's channels one to one (so its filter still describes the channel)


@dataclass
class Maps:
    """One channel's activation maps (N, h, w) on clean and (if given) adversarial images, on the CPU."""

    clean: torch.Tensor
    adv: torch.Tensor | None = None

    @property
    def change(self) -> torch.Tensor | None:
        """|F(x') - F(x)| per position: what sigma averages."""
        return None if self.adv is None else change_map(self.clean, self.adv)


def activation_maps(
    model: nn.Module,
    layer: str,
    channel: int,
    x: torch.Tensor,
    x_adv: torch.Tensor | None = None,
    *,
    batch_size: int = 64,
) -> Maps:
    """The maps of ``layer``'s ``channel`` for images ``x`` (N, 3, H, W) in [0, 1] and ``x_adv``.

    Runs in eval mode without gradients on the model's own device (a no-parameter model: the
    images' device), so the values are those the sweep measured.
    """
    from .analysis import eval_mode  # here, so analysis.py may import this module

    device = next((p.device for p in model.parameters()), x.device)
    batches = [x] if x_adv is None else [x, x_adv]
    out: list[torch.Tensor] = []
    with torch.no_grad(), eval_mode(model), LayerHooks(model, [layer], stop=True) as hooks:
        for images in batches:
            parts = [
                spatial(hooks.run(images[i : i + batch_size].to(device))[layer], layer)[:, channel]
                for i in range(0, len(images), batch_size)
            ]
            out.append(torch.cat(parts).float().cpu())
    return Maps(out[0], out[1] if x_adv is not None else None)


def spatial(act: torch.Tensor, layer: str = "") -> torch.Tensor:
    """A recorded (channel-first) output as (N, C, h, w): conv maps as they are, a linear unit as
    1 x 1, and tokens (N, D, T) as the square grid of their last T' = s * s tokens (a class token
    and other leading extras dropped)."""
    if act.dim() == 4:
        return act
    if act.dim() == 2:
        return act[:, :, None, None]
    if act.dim() == 3:
        side = math.isqrt(act.shape[2])
        return act[:, :, act.shape[2] - side * side :].reshape(*act.shape[:2], side, side)
    raise UsageError(f"layer '{layer}' output of shape {tuple(act.shape)} has no spatial map to draw")


def change_map(clean: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    return (adv.float() - clean.float()).abs()


def map_scale(*maps: torch.Tensor) -> tuple[float, float]:
    """A channel's own colour scale over the given maps: [min(0, lowest), highest], never empty."""
    values = torch.cat([m.detach().float().flatten() for m in maps])
    values = values[torch.isfinite(values)]
    lo = min(0.0, float(values.min())) if len(values) else 0.0
    hi = float(values.max()) if len(values) else 1.0
    return lo, hi if hi > lo else lo + 1.0


def upsample(amap: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A (h, w) map onto the (H, W) pixel grid: bilinear, ``align_corners=False``, so cell (i, j)'s
    value sits at the centre of the pixel block it covers (the grid is assumed to span the input)."""
    m = torch.as_tensor(amap).detach().float().cpu()[None, None]
    return F.interpolate(m, size=size, mode="bilinear", align_corners=False)[0, 0]


def enlargement(height: int, width: int) -> int:
    """The nearest-neighbour factor that makes a small image visible (1 for large ones)."""
    return max(1, DISPLAY // max(height, width, 1))


def _enlarge(array: np.ndarray, k: int) -> np.ndarray:
    return array.repeat(k, axis=0).repeat(k, axis=1) if k > 1 else array


def _rgb(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (1, H, W) in [0, 1] -> (H, W, 3) float array."""
    img = image.detach().float().cpu().clamp(0, 1)
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    return img.permute(1, 2, 0).numpy()


def overlay_rgb(image: torch.Tensor, amap: torch.Tensor, scale: tuple[float, float], cmap: str = CMAP) -> np.ndarray:
    """The image (H, W, 3) with the upsampled map blended over it in ``cmap`` on ``scale``.

    Opacity grows with the map's value (0.2 at the bottom of the scale, 0.8 at the top), so the
    image stays readable where the channel is quiet and the hot spots stand out.
    """
    rgb = _rgb(image)
    t = Normalize(*scale, clip=True)(upsample(amap, rgb.shape[:2]).numpy()).filled(0.0)
    colour = matplotlib.colormaps[cmap](t)[..., :3]
    alpha = (0.2 + 0.6 * t)[..., None]
    return (1 - alpha) * rgb + alpha * colour


def _panel(fig: Figure, ax, rgb: np.ndarray, k: int, scale: tuple[float, float], cmap: str, title: str, extend: str):
    ax.imshow(_enlarge(rgb, k), interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    bar = fig.colorbar(ScalarMappable(Normalize(*scale), cmap), ax=ax, fraction=0.046, pad=0.03, extend=extend)
    bar.ax.tick_params(labelsize=7)


def _save(fig: Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})


def _extend(maps: Sequence[torch.Tensor], scale: tuple[float, float]) -> str:
    """Mark a colour bar end where some drawn value lies beyond the scale (clipped)."""
    values = torch.cat([m.float().flatten() for m in maps])
    low, high = bool((values < scale[0]).any()), bool((values > scale[1]).any())
    return {(False, False): "neither", (True, False): "min", (False, True): "max"}.get((low, high), "both")


def overlay_png(image: torch.Tensor, amap: torch.Tensor, scale: tuple[float, float], path: str | Path) -> np.ndarray:
    """Write the image with the channel's map over it and a colour bar on the channel's own scale.

    Returns the upsampled map (H, W) that was drawn, in image pixel coordinates.
    """
    rgb = overlay_rgb(image, amap, scale)
    fig = Figure(figsize=(2.6, 2.1), layout="constrained")
    _panel(fig, fig.subplots(), rgb, enlargement(*rgb.shape[:2]), scale, CMAP, "", _extend([amap], scale))
    _save(fig, path)
    return upsample(amap, rgb.shape[:2]).numpy()


@dataclass
class ChangePanel:
    """What a change panel drew: the maps at feature resolution and the |dF| scale."""

    clean: torch.Tensor
    adv: torch.Tensor
    change: torch.Tensor
    change_scale: tuple[float, float]


def change_panel_png(
    image: torch.Tensor,
    clean_map: torch.Tensor,
    adv_map: torch.Tensor,
    scale: tuple[float, float],
    path: str | Path,
    *,
    adv_image: torch.Tensor | None = None,
) -> ChangePanel:
    """Clean map | adversarial map | |dF| map side by side, written to ``path``.

    Clean and adversarial maps share ``scale`` (the channel's own) and one colour bar each on it;
    |dF| = |adv - clean| is taken at feature resolution (the quantity sigma averages) and gets its
    own scale [0, max]. The adversarial map is drawn over ``adv_image`` when given, else over ``image``.
    """
    clean_map, adv_map = torch.as_tensor(clean_map).float().cpu(), torch.as_tensor(adv_map).float().cpu()
    change = change_map(clean_map, adv_map)
    top = float(change.max()) if change.numel() else 0.0
    change_scale = (0.0, top if top > 0 else 1.0)
    rgb = _rgb(image)
    k = enlargement(*rgb.shape[:2])
    fig = Figure(figsize=(7.2, 2.1), layout="constrained")
    axes = fig.subplots(1, 3)
    extend = _extend([clean_map, adv_map], scale)
    _panel(fig, axes[0], overlay_rgb(image, clean_map, scale), k, scale, CMAP, "clean", extend)
    background = image if adv_image is None else adv_image
    _panel(fig, axes[1], overlay_rgb(background, adv_map, scale), k, scale, CMAP, "adversarial", extend)
    changed = overlay_rgb(image, change, change_scale, CHANGE_CMAP)
    _panel(fig, axes[2], changed, k, change_scale, CHANGE_CMAP, "|ΔF|", "neither")
    _save(fig, path)
    return ChangePanel(clean_map, adv_map, change, change_scale)


def filter_image(weight: torch.Tensor, channel: int) -> np.ndarray:
    """Filter ``channel`` of a conv weight (C_out, C_in, k, k) as an image in [0, 1].

    Symmetric around 0: w / (2 max|w|) + 0.5, one scale for all input channels, so 0 is mid grey
    and a colour's strength is comparable across R, G, B. (k, k, 3) RGB when C_in == 3, else a
    (k, k) grey image (of the mean over input channels when C_in > 1).
    """
    w = weight[channel].detach().float().cpu()
    if w.shape[0] != 3:
        w = w.mean(0, keepdim=True)
    top = float(w.abs().max())
    img = (w / (2 * top) + 0.5) if top > 0 else torch.full_like(w, 0.5)
    return img.permute(1, 2, 0).numpy() if img.shape[0] == 3 else img[0].numpy()


def filter_weights_png(conv_weight: torch.Tensor, channel: int, path: str | Path) -> np.ndarray:
    """Write ``filter_image`` enlarged with nearest neighbours (about ``FILTER_PIXELS`` a side)."""
    img = filter_image(conv_weight, channel)
    k = max(1, FILTER_PIXELS // max(img.shape[:2]))
    arr = (_enlarge(img, k) * 255.0 + 0.5).astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")
    return img


def first_conv(model: nn.Module, layer: str) -> torch.Tensor | None:
    """The weight of the model's first conv when ``layer`` is it, or is that conv followed only by
    per-channel modules (BatchNorm, activation, ...; e.g. the ResNet stem's ``relu``), so its
    channels are the filters' own; ``None`` otherwise.

    "First" and "followed by" go by the order modules are registered in, which is forward order
    for the supported networks; functional operations in ``forward`` are not seen.
    """
    leaves = [(name, m) for name, m in model.named_modules() if not any(m.children())]
    names = [name for name, _ in leaves]
    convs = [i for i, (_, m) in enumerate(leaves) if isinstance(m, nn.Conv2d)]
    if not convs:
        return None
    first = convs[0]
    inside = [i for i, name in enumerate(names) if name == layer or name.startswith(f"{layer}.")]
    if not inside or inside[-1] < first:
        return None
    if any(not isinstance(m, PER_CHANNEL) for _, m in leaves[first + 1 : inside[-1] + 1]):
        return None
    conv = leaves[first][1]
    assert isinstance(conv, nn.Conv2d)
    return conv.weight.detach().cpu()
