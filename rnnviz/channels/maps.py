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
from matplotlib.colorbar import Colorbar
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

from rnnviz.common.errors import UsageError
from rnnviz.common.files import atomic_path
from rnnviz.sweep.hooks import LayerHooks
from rnnviz.sweep.passes import eval_mode

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


GAP = 4  # white pixels between the tiles of a sheet


def _save_rgb(array: np.ndarray, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8)).save(tmp, format="PNG")


def _sheet(rows: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """Tiles (H, W, 3) in a grid with white gaps, each enlarged so small images stay visible."""
    k = enlargement(*rows[0][0].shape[:2])
    tiles = [[_enlarge(t, k) for t in row] for row in rows]
    h, w = tiles[0][0].shape[:2]
    cols = max(len(r) for r in tiles)
    out = np.ones((len(tiles) * (h + GAP) - GAP, cols * (w + GAP) - GAP, 3))
    for i, row in enumerate(tiles):
        for j, tile in enumerate(row):
            out[i * (h + GAP) : i * (h + GAP) + h, j * (w + GAP) : j * (w + GAP) + w] = tile
    return out


def clean_sheet_png(
    images: Sequence[torch.Tensor], maps: Sequence[torch.Tensor], scale: tuple[float, float], path: str | Path
) -> list[np.ndarray]:
    """The exemplars in a row, each with the channel's map over it on the channel's own ``scale``.

    Returns the upsampled maps drawn (image pixel coordinates), one per image.
    """
    _save_rgb(_sheet([[overlay_rgb(img, m, scale) for img, m in zip(images, maps)]]), path)
    return [upsample(m, (int(img.shape[1]), int(img.shape[2]))).numpy() for img, m in zip(images, maps)]


def change_sheet_png(
    images: Sequence[torch.Tensor],
    adv_images: Sequence[torch.Tensor],
    clean_maps: Sequence[torch.Tensor],
    adv_maps: Sequence[torch.Tensor],
    scale: tuple[float, float],
    path: str | Path,
) -> tuple[float, float]:
    """One row per image: clean map | adversarial map (over the adversarial image) | |dF| map.

    Clean and adversarial maps share ``scale`` (the channel's own); |dF| = |adv - clean|, taken at
    feature resolution (what sigma averages), shares one scale [0, max] over the sheet, returned.
    """
    changes = [change_map(torch.as_tensor(c).float(), torch.as_tensor(a).float()) for c, a in zip(clean_maps, adv_maps)]
    top = max((float(c.max()) for c in changes if c.numel()), default=0.0)
    change_scale = (0.0, top if top > 0 else 1.0)
    rows = [
        [overlay_rgb(x, c, scale), overlay_rgb(xa, a, scale), overlay_rgb(x, d, change_scale, CHANGE_CMAP)]
        for x, xa, c, a, d in zip(images, adv_images, clean_maps, adv_maps, changes)
    ]
    _save_rgb(_sheet(rows), path)
    return change_scale


class ColourBars:
    """The cards' horizontal colour bars: the numbers a sheet's colours stand for.

    One figure per colour map is built once and redrawn for each scale and label (the same PNG bytes
    as a fresh figure; building it was a third of a bar's cost, and a run draws one to four per card).
    The bar's place is fixed (room for a 6-character end tick and the label below): constrained layout
    was half the cards stage's time, for a strip that is the same shape on every card."""

    def __init__(self) -> None:
        self._bars: dict[str, tuple[Figure, ScalarMappable, Colorbar]] = {}

    def write(self, scale: tuple[float, float], path: str | Path, *, label: str, cmap: str = CMAP) -> None:
        if cmap not in self._bars:
            fig = Figure(figsize=(3.2, 0.62))
            mappable = ScalarMappable(Normalize(*scale), cmap)
            self._bars[cmap] = (
                fig,
                mappable,
                fig.colorbar(mappable, cax=fig.add_axes((0.05, 0.6, 0.9, 0.32)), orientation="horizontal"),
            )
        fig, mappable, bar = self._bars[cmap]
        mappable.set_norm(Normalize(*scale))
        bar.update_normal(mappable)
        bar.set_label(label, fontsize=8, labelpad=1)
        bar.ax.tick_params(labelsize=7, pad=1)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})


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
