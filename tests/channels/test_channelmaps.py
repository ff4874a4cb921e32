"""Channel-card pictures: maps sit on the pixels that caused them, filters show their weights."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from rnnviz.channels.maps import (
    ColourBars,
    activation_maps,
    change_sheet_png,
    clean_sheet_png,
    filter_image,
    filter_weights_png,
    first_conv,
    map_scale,
    overlay_rgb,
    spatial,
    upsample,
)
from rnnviz.common.files import strict_images
from rnnviz.models.zoo.net import FashionResNet, FashionVGG
from tests.helpers import no_hooks

CELL = 7  # the detector's stride: each map cell sees one 7 x 7 block of pixels


class BrightBlock(nn.Module):
    """One channel that fires (0.5) only on a fully white 7 x 7 block: mean brightness - 0.5, ReLU."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, CELL, stride=CELL)
        self.relu = nn.ReLU()
        with torch.no_grad():
            self.conv.weight.fill_(1.0 / (3 * CELL * CELL))
            self.conv.bias.fill_(-0.5)

    def forward(self, x):
        return self.relu(self.conv(x)).mean((2, 3))


def _square(row: int, col: int, height: int = 28, width: int = 42) -> torch.Tensor:
    """A black (3, H, W) image with a white block at cell (row, col) (not square, to catch a transpose)."""
    x = torch.zeros(3, height, width)
    x[:, row * CELL : (row + 1) * CELL, col * CELL : (col + 1) * CELL] = 1.0
    return x


def test_activation_maps_are_the_channels_output_on_clean_and_adversarial_images():
    net = BrightBlock().train()
    x, x_adv = _square(2, 4)[None], _square(1, 0)[None]
    maps = activation_maps(net, "relu", 0, x, x_adv)
    want = torch.zeros(1, 4, 6)
    want[0, 2, 4] = 0.5
    torch.testing.assert_close(maps.clean, want)
    assert maps.adv is not None and maps.change is not None
    torch.testing.assert_close(maps.adv, want.roll((-1, -4), (1, 2)))  # the block at cell (1, 0)
    torch.testing.assert_close(maps.change, (maps.adv - maps.clean).abs())
    assert net.training and no_hooks(net)  # mode restored, hooks removed
    assert activation_maps(net, "relu", 0, x.repeat(5, 1, 1, 1), batch_size=2).clean.shape == (5, 4, 6)


def test_overlay_peak_sits_on_the_square(tmp_path):
    net = BrightBlock()
    image = _square(2, 4)
    amap = activation_maps(net, "relu", 0, image[None]).clean[0]
    (drawn,) = clean_sheet_png([image], [amap], (0.0, 0.5), tmp_path / "o.png")
    assert drawn.shape == (28, 42)
    # the hot spot is the block's centre pixel (17, 31): align_corners=False puts cell (2, 4)'s
    # value at the centre of its pixels (align_corners=True would put it at (18, 32))
    assert np.unravel_index(drawn.argmax(), drawn.shape) == (2 * CELL + 3, 4 * CELL + 3)
    assert drawn[2 * CELL + 3, 4 * CELL + 3] == pytest.approx(0.5, rel=1e-5)
    hot = drawn > 0.25  # where the map is above half its peak: inside the block only
    rows, cols = np.nonzero(hot)
    assert rows.min() >= 2 * CELL and rows.max() < 3 * CELL and cols.min() >= 4 * CELL and cols.max() < 5 * CELL
    # the overlay colours that pixel with the top of the colour map, at 80 % opacity
    rgb = overlay_rgb(image, amap, (0.0, 0.5))
    top = np.array(matplotlib.colormaps["inferno"](1.0)[:3])
    np.testing.assert_allclose(rgb[17, 31], 0.2 * 1.0 + 0.8 * top, atol=1e-6)
    np.testing.assert_allclose(rgb[0, 0], 0.8 * 0.0 + 0.2 * np.array(matplotlib.colormaps["inferno"](0.0)[:3]))
    with strict_images(), Image.open(tmp_path / "o.png") as png:
        png.load()
        assert png.width > 150  # 28 x 42 enlarged so it can be seen
    assert (tmp_path / "o.png").stat().st_size < 60_000


def test_upsample_of_a_constant_and_a_one_by_one_map():
    torch.testing.assert_close(upsample(torch.full((3, 3), 2.0), (9, 9)), torch.full((9, 9), 2.0))
    torch.testing.assert_close(upsample(torch.tensor([[4.0]]), (5, 7)), torch.full((5, 7), 4.0))


def test_change_sheet_draws_the_absolute_change(tmp_path):
    clean = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    adv = torch.tensor([[0.5, 0.0], [2.0, 5.0]])
    image = torch.rand(3, 28, 28, generator=torch.Generator().manual_seed(0))
    scale = change_sheet_png(
        [image, image], [image * 0.5, image], [clean, clean], [adv, clean], (0.0, 3.0), tmp_path / "c.png"
    )
    assert scale == (0.0, 2.0)  # max |adv - clean| = |5 - 3| over the sheet
    with strict_images(), Image.open(tmp_path / "c.png") as png:
        png.load()
        assert png.width > png.height  # two rows of three panels
        sheet = np.asarray(png).astype(float) / 255
    k = sheet.shape[1] // 3 // 28  # tiles are enlarged 28 px images with 4 px gaps
    third = sheet[: 28 * k, 2 * (28 * k + 4) : 3 * (28 * k + 4) - 4]  # row 0, the |dF| panel
    expected = overlay_rgb(image, (adv - clean).abs(), scale, "viridis")
    np.testing.assert_allclose(third[::k, ::k], expected, atol=1 / 255)
    assert change_sheet_png([image], [image], [clean], [clean], (0.0, 3.0), tmp_path / "d.png") == (0.0, 1.0)
    ColourBars().write((0.0, 2.0), tmp_path / "bar.png", label="|ΔF|")
    assert (tmp_path / "bar.png").stat().st_size > 0


def test_reused_colour_bars_are_the_bars_a_fresh_figure_draws(tmp_path):
    """One figure per colour map, redrawn for each scale and label: the same bytes as one figure each."""
    bars = ColourBars()
    cases = [
        ((0.0, 2.0), "a:1 activation", "inferno"),
        ((0.0, 0.37), "|ΔF|", "viridis"),
        ((-1.5, 40.0), "b:7", "inferno"),
    ]
    for i, (scale, label, cmap) in enumerate(cases):
        bars.write(scale, tmp_path / f"reused{i}.png", label=label, cmap=cmap)
        ColourBars().write(scale, tmp_path / f"fresh{i}.png", label=label, cmap=cmap)
        assert (tmp_path / f"reused{i}.png").read_bytes() == (tmp_path / f"fresh{i}.png").read_bytes()
    assert (tmp_path / "reused0.png").read_bytes() != (tmp_path / "reused2.png").read_bytes()


def test_map_scale():
    assert map_scale(torch.tensor([[0.5, 2.0]]), torch.tensor([1.0])) == (0.0, 2.0)
    assert map_scale(torch.tensor([-1.0, 0.5])) == (-1.0, 0.5)
    assert map_scale(torch.zeros(2, 2)) == (0.0, 1.0)
    assert map_scale(torch.tensor([float("nan"), 3.0])) == (0.0, 3.0)


def test_spatial_layouts():
    assert spatial(torch.ones(2, 4, 3, 5)).shape == (2, 4, 3, 5)
    assert spatial(torch.ones(2, 4)).shape == (2, 4, 1, 1)
    tokens = torch.arange(2 * 3 * 5, dtype=torch.float).view(2, 3, 5)  # a class token and a 2 x 2 grid
    grid = spatial(tokens)
    assert grid.shape == (2, 3, 2, 2) and torch.equal(grid[1, 2].flatten(), tokens[1, 2, 1:])


def test_filter_image_rgb_is_symmetric_around_zero(tmp_path):
    weight = torch.zeros(2, 3, 2, 2)
    weight[1, 0, 0, 1] = -4.0  # red, top right: the largest |w| -> 0
    weight[1, 2, 1, 0] = 2.0  # blue, bottom left -> 0.5 + 2 / 8 = 0.75
    img = filter_image(weight, 1)
    assert img.shape == (2, 2, 3)
    want = np.full((2, 2, 3), 0.5)
    want[0, 1, 0], want[1, 0, 2] = 0.0, 0.75
    np.testing.assert_allclose(img, want)
    np.testing.assert_allclose(filter_image(weight, 0), np.full((2, 2, 3), 0.5))  # all-zero filter: mid grey
    written = filter_weights_png(weight, 1, tmp_path / "w.png")
    np.testing.assert_allclose(written, want)
    with strict_images(), Image.open(tmp_path / "w.png") as png:
        arr = np.asarray(png.convert("RGB"))
    assert arr.shape == (96, 96, 3)
    assert tuple(arr[0, 95]) == (0, 128, 128) and tuple(arr[95, 0]) == (128, 128, 191)


def test_filter_image_grey_for_one_input_channel():
    weight = torch.tensor([[[[1.0, -2.0], [0.0, 0.5]]]])
    np.testing.assert_allclose(filter_image(weight, 0), [[0.75, 0.0], [0.5, 0.625]])


def test_first_conv_only_for_the_stem():
    resnet = FashionResNet()
    for layer in ("conv1", "bn1", "relu"):
        weight = first_conv(resnet, layer)
        assert weight is not None and torch.equal(weight, resnet.conv1.weight)
    assert resnet.conv1.in_channels == 1  # the built-in nets average RGB first: grey filters
    for layer in ("layer1", "layer1.0.conv1", "fc", ""):
        assert first_conv(resnet, layer) is None
    vgg = FashionVGG()
    assert first_conv(vgg, "stage1.2") is not None
    assert first_conv(vgg, "stage1") is None  # its output is after the second conv
