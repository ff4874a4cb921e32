"""LayerHooks' replacement forms, checked against a hand-built result."""

from __future__ import annotations

import torch
from torch import nn

from rnnviz.sweep.hooks import LayerHooks, StackedChannels


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 3, padding=1)).eval()


def test_stacked_copies_each_take_only_their_own_channels():
    """Three copies of two images: copy 0 takes channels 1 and 4, copy 1 none, copy 2 channel 5;
    every other value is the target's own."""
    net = _net().to(memory_format=torch.channels_last)
    target, source = torch.rand(2, 3, 5, 5), torch.rand(2, 3, 5, 5)
    with torch.no_grad():
        clean = net[0](source)
        stacked = target.repeat(3, 1, 1, 1).contiguous(memory_format=torch.channels_last)
        plain = net[0](stacked)
    expected = plain.clone()
    for copy, channels in enumerate([[1, 4], [], [5]]):
        for c in channels:
            expected[2 * copy : 2 * copy + 2, c] = clean[:, c]
    with torch.no_grad(), LayerHooks(net, ["0"]) as hooks, hooks.paused():
        with hooks.replacing({"0": StackedChannels.of(clean, [[1, 4], [], [5]])}):
            out = net(stacked)
        with hooks.replacing({"0": StackedChannels.of(clean, [[2]])}):
            one = net(target)
    assert torch.equal(net[2](net[1](expected)), out)
    with torch.no_grad():
        alone = net[0](target)
        alone[:, 2] = clean[:, 2]
        assert torch.equal(net[2](net[1](alone)), one)  # one copy: the same channels for every image
