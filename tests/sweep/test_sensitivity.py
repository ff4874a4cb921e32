"""Channel sensitivity against hand-computed values, batching, and hook hygiene."""

import pytest
import torch
from helpers import TwoLayerNet, freeze, images, no_hooks, sweep, tiny_resnet

from rnnviz.sweep.hooks import LayerHooks
from rnnviz.sweep.loop import analyze
from rnnviz.sweep.sensitivity import SensitivityMeter, channel_l1, layer_means, top_channels


def test_channel_l1_by_hand():
    clean = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]]]])  # (1, 2, 2, 2)
    adv = torch.tensor([[[[1.0, 0.0], [3.0, 8.0]], [[1.0, -1.0], [0.0, 2.0]]]])
    # channel 0: (0 + 2 + 0 + 4) / 4 = 1.5; channel 1: (1 + 1 + 0 + 2) / 4 = 1.0
    assert channel_l1(clean, adv).tolist() == [[1.5, 1.0]]


def test_meter_averages_over_images_by_hand():
    meter = SensitivityMeter(["l"])
    meter.add({"l": torch.zeros(2, 1, 1, 2)}, {"l": torch.tensor([[[[1.0, 3.0]]], [[[0.0, 2.0]]]])})
    meter.add({"l": torch.zeros(1, 1, 1, 2)}, {"l": torch.tensor([[[[6.0, 0.0]]]])})
    # per image: 2.0, 1.0, 3.0 -> mean 2.0
    assert meter.channels()["l"].tolist() == [2.0]
    assert meter.count == 3


def test_two_layer_net_sensitivity_equals_hand_computed():
    """FGSM moves a pixel by exactly eps where its gradient is non-zero (x is away from 0 and 1), so a
    1x1 conv channel with weight w changes by |w| * eps. The w < 0 channel is negative everywhere, so
    the ReLU zeroes it and its gradient: its input pixels do not move and it changes by 0."""
    net = freeze(TwoLayerNet().double())
    g = torch.Generator().manual_seed(0)
    x = (0.3 + 0.4 * torch.rand(6, 3, 5, 5, generator=g)).double()
    y = torch.tensor([0, 1, 0, 1, 0, 1])
    eps = 0.05
    a = analyze(net, x, y, sweep([0.0, eps], ["conv", "relu"], batch_size=4))
    conv, relu = a.channels[1]["conv"], a.channels[1]["relu"]
    assert conv.tolist() == pytest.approx([2 * eps, 0.0, 0.5 * eps], rel=1e-9)
    assert relu.tolist() == pytest.approx([2 * eps, 0.0, 0.5 * eps], rel=1e-9)
    assert a.channels[0]["conv"].abs().max() == 0  # eps = 0: nothing moves
    assert layer_means(a.channels[1])["conv"] == pytest.approx(2.5 * eps / 3)


def test_batch_size_does_not_change_results():
    model = tiny_resnet()
    x, y = images(7)
    a = analyze(model.module, x, y, sweep([0.0, 0.03], ["layer1.0", "layer3.0"], batch_size=7))
    b = analyze(model.module, x, y, sweep([0.0, 0.03], ["layer1.0", "layer3.0"], batch_size=2))
    for layer in ("layer1.0", "layer3.0"):
        assert torch.allclose(a.channels[1][layer], b.channels[1][layer], rtol=1e-4, atol=1e-7)
    assert (a.pred == b.pred).all()


def test_top_channels_keep_indices():
    ch = {"a": torch.tensor([0.1, 0.9, 0.3]), "b": torch.tensor([0.5, 0.05])}
    assert top_channels(ch, 3) == [
        {"layer": "a", "channel": 1, "sensitivity": pytest.approx(0.9)},
        {"layer": "b", "channel": 0, "sensitivity": 0.5},
        {"layer": "a", "channel": 2, "sensitivity": pytest.approx(0.3)},
    ]


def test_no_hook_left_after_run_or_error():
    model = tiny_resnet()
    x, y = images(2)
    analyze(model.module, x, y, sweep([0.0, 0.1], model.default_layers, attack="pgd"))
    assert no_hooks(model.module)
    with pytest.raises(RuntimeError):
        with LayerHooks(model.module, ["layer1"]):
            raise RuntimeError("boom")
    assert no_hooks(model.module)


def test_neuron_maps_for_requested_channel():
    net = freeze(TwoLayerNet().double())
    x = (0.3 + 0.4 * torch.rand(2, 3, 4, 4)).double()
    a = analyze(net, x, torch.tensor([0, 1]), sweep([0.0, 0.1], ["conv"], neurons=[("conv", 0)]))
    assert a.neuron_maps[1][("conv", 0)].shape == (4, 4)
    assert torch.allclose(a.neuron_maps[1][("conv", 0)], torch.full((4, 4), 0.2, dtype=torch.float64))
