"""Issue 24: matched controls (noise in the model's input, patching sets), the ranking measure, the
strongest attack as primary; each against a hand-computed case or a direct recomputation."""

import math

import numpy as np
import pytest
import torch
from helpers import TwoLayerNet, sweep
from torch import nn

from rnnviz.common.names import RANK_BY
from rnnviz.measures import rank_measures
from rnnviz.measures.patch_plan import control_fits, layer_matched, magnitude_matched, plan
from rnnviz.measures.primary import choose, first, strongest
from rnnviz.settings.config import Config
from rnnviz.settings.patching import most_sets
from rnnviz.sweep.attacks import fgsm, pgd, pgd_l2
from rnnviz.sweep.loop import analyze
from rnnviz.sweep.noise import InputSizes, NoiseControl, matched_noise, model_input, probe_front, sized_noise


class GrayTwoLayerNet(nn.Module):
    """TwoLayerNet behind a grayscale front: the colour channels are averaged first, then copied
    into the three per-channel 1x1 convs (weights 2, -1, 0.5)."""

    def __init__(self):
        super().__init__()
        self.body = TwoLayerNet()

    def forward(self, x):
        return self.body(x.mean(1, keepdim=True).expand(-1, 3, -1, -1))


def mid_images(n=6, size=8, seed=0):
    """Pixels in [0.3, 0.7]: an eps of 0.1 never meets the [0, 1] clamp, so sizes are exact."""
    g = torch.Generator().manual_seed(seed)
    return 0.3 + 0.4 * torch.rand(n, 3, size, size, generator=g), torch.randint(0, 2, (n,), generator=g)


def sizes(delta, front):
    seen = model_input(delta, front).flatten(1)
    return seen.abs().mean(1), seen.norm(dim=1)


def test_the_probe_tells_a_grayscale_front_from_an_rgb_one():
    like = torch.zeros(1, 3, 8, 8)
    assert probe_front(GrayTwoLayerNet().eval(), like)["front"] == "grayscale"
    assert probe_front(TwoLayerNet().eval(), like)["front"] == "rgb"


def test_matched_noise_has_the_attacks_size_in_a_grayscale_models_input():
    net, (x, y) = GrayTwoLayerNet().eval(), mid_images()
    eps, index = 0.1, torch.arange(len(y))
    attack_abs, attack_l2 = sizes(fgsm(net, x, y, eps) - x, "grayscale")
    assert torch.allclose(attack_abs, torch.full_like(attack_abs, eps))  # FGSM's signs are shared
    for kind in ("sign", "gauss"):
        noise_abs, noise_l2 = sizes(
            matched_noise(x, eps, 0, index, NoiseControl("linf", "grayscale", kind)) - x, "grayscale"
        )
        assert torch.allclose(noise_l2, attack_l2, rtol=1e-5)
        if kind == "sign":
            assert torch.allclose(noise_abs, attack_abs, rtol=1e-5)
    # independent signs per colour channel (an "rgb" front) average out in a grayscale model's input
    old_abs, old_l2 = sizes(matched_noise(x, eps, 0, index, NoiseControl("linf", "rgb", "sign")) - x, "grayscale")
    assert (old_abs < 0.8 * attack_abs).all() and (old_l2 < 0.8 * attack_l2).all()


def test_matched_noise_does_not_depend_on_the_batching():
    x, _ = mid_images(5)
    whole = matched_noise(x, 0.1, 3, torch.arange(5), NoiseControl("linf", "grayscale", "gauss"))
    parts = [
        matched_noise(x[i : i + 2], 0.1, 3, torch.arange(i, min(i + 2, 5)), NoiseControl("linf", "grayscale", "gauss"))
        for i in (0, 2, 4)
    ]
    assert torch.equal(whole, torch.cat(parts))


def edge_images(n=6, size=8, seed=0):
    """Half the pixels at 0 or 1: the clamp cuts both the attack and eps-sized noise, by amounts that
    differ from image to image."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g)
    x = torch.where(x < 0.25, torch.zeros_like(x), torch.where(x > 0.75, torch.ones_like(x), x))
    return x, torch.randint(0, 2, (n,), generator=g)


@pytest.mark.parametrize("front", ["grayscale", "rgb"])
def test_sized_noise_has_each_images_applied_size_in_the_models_input(front):
    net = (GrayTwoLayerNet() if front == "grayscale" else TwoLayerNet()).eval()
    x, y = edge_images()
    index, eps = torch.arange(len(y)), 0.1
    for norm, attacked in (
        ("linf", fgsm(net, x, y, eps)),
        ("linf", pgd(net, x, y, eps)),
        ("l2", pgd_l2(net, x, y, 1.0)),
    ):
        applied_abs, applied_l2 = sizes(attacked - x, front)
        eps_sized_abs, _ = sizes(matched_noise(x, eps, 0, index, NoiseControl(norm, front)) - x, front)
        assert not torch.allclose(eps_sized_abs, applied_abs, rtol=1e-3)  # the case this is for
        for kind in ("sign", "gauss"):
            noise = sized_noise(x, attacked - x, eps, 0, index, NoiseControl(norm, front, kind))
            got_abs, got_l2 = sizes(noise - x, front)
            if kind == "sign" and norm == "linf":
                assert torch.allclose(got_abs, applied_abs, rtol=1e-5)
            else:
                assert torch.allclose(got_l2, applied_l2, rtol=1e-5)
            assert noise.min() >= 0 and noise.max() <= 1


def test_sized_noise_keeps_the_draws_direction_and_batching():
    net, (x, y) = GrayTwoLayerNet().eval(), edge_images(5)
    attacked, index = fgsm(net, x, y, 0.1), torch.arange(5)
    whole = sized_noise(x, attacked - x, 0.1, 3, index, NoiseControl("linf", "grayscale"))
    parts = [
        sized_noise(
            x[i : i + 2], (attacked - x)[i : i + 2], 0.1, 3, index[i : i + 2], NoiseControl("linf", "grayscale")
        )
        for i in (0, 2, 4)
    ]
    assert torch.equal(whole, torch.cat(parts))
    moved = (whole - x) != 0  # where the noise moved a pixel, it moved it the draw's way
    signs = (matched_noise(x, 0.1, 3, index, NoiseControl("linf", "grayscale")) - x).sign()
    assert torch.equal((whole - x).sign()[moved], signs[moved])
    assert torch.equal(sized_noise(x, attacked - x, 0.0, 3, index, NoiseControl("linf", "grayscale")), x)


def test_the_sweep_records_noise_of_the_attacks_applied_size():
    net, (x, y) = GrayTwoLayerNet().eval(), edge_images(8)
    a = analyze(net, x, y, sweep([0.0, 0.1], ["body.conv"], noise=True, batch_size=3))
    got = a.inputs.means(1, "fgsm")
    assert math.isclose(got["noise"]["mean_abs"], got["fgsm"]["mean_abs"], rel_tol=1e-5)
    assert math.isclose(got["gauss"]["l2"], got["fgsm"]["l2"], rel_tol=1e-5)


def test_input_sizes_average_per_image_and_merge():
    a, b = InputSizes("grayscale"), InputSizes("grayscale")
    delta = torch.zeros(2, 3, 2, 2)
    delta[0] = 0.3  # grayscale mean 0.3 over 4 pixels: mean |d| 0.3, L2 0.6
    delta[1, 0] = 0.3  # one channel only: mean 0.1 per pixel: mean |d| 0.1, L2 0.2
    a.add(1, "fgsm", delta[:1])
    b.add(1, "fgsm", delta[1:])
    got = a.merge(b).means(1)["fgsm"]
    assert math.isclose(got["mean_abs"], 0.2, rel_tol=1e-6) and math.isclose(got["l2"], 0.4, rel_tol=1e-6)


def test_the_ranking_measures_by_hand():
    sigma = {"a": torch.tensor([4.0, 2.0, 1.0], dtype=torch.float64)}
    noise = {"a": torch.tensor([3.0, 0.5, 0.5], dtype=torch.float64)}
    scale = {"a": torch.tensor([10.0, 1.0, 0.0], dtype=torch.float64)}  # channel 2 is silent: no ratio
    assert rank_measures.values("excess", sigma, noise, scale)["a"].tolist() == [1.0, 1.5, 0.5]
    assert rank_measures.values("relative", sigma, noise, scale)["a"].tolist() == [0.4, 2.0, 0.0]
    assert rank_measures.values("relative-excess", sigma, noise, scale)["a"].tolist() == [0.1, 1.5, 0.0]
    z = rank_measures.values("zscore", sigma, noise, scale)["a"]  # excess 1, 1.5, 0.5: mean 1, sd 0.5
    assert torch.allclose(z, torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64))


def test_spearman_by_hand():
    # ranks (1, 2, 3, 4) against (2, 1, 4, 3): rho = 1 - 6 * 4 / (4 * 15) = 0.6
    assert math.isclose(rank_measures.spearman(torch.tensor([1.0, 2, 3, 4]), torch.tensor([5.0, 1, 9, 7])), 0.6)
    assert math.isclose(rank_measures.spearman(torch.tensor([1.0, 2, 3]), torch.tensor([3.0, 2, 1])), -1.0)
    assert rank_measures.ranks(torch.tensor([5.0, 1.0, 5.0])).tolist() == [2.5, 1.0, 2.5]


def test_a_random_patching_control_has_the_layer_counts_of_its_target():
    sigma = {"stem": torch.zeros(16), "layer4.0": torch.zeros(128)}
    target = [("layer4.0", c) for c in (5, 9, 40)] + [("stem", 2)]
    for r in range(5):
        drawn = layer_matched(target, sigma, np.random.default_rng(r))
        assert sorted(layer for layer, _ in drawn) == sorted(layer for layer, _ in target)
        assert not set(drawn) & set(target)


def test_a_magnitude_control_sits_next_to_each_target_in_clean_size():
    scale = {"l": torch.arange(20, dtype=torch.float64)}  # channel c has size c
    target = [("l", 3), ("l", 10)]
    drawn = magnitude_matched(target, scale, np.random.default_rng(0))
    assert len(drawn) == 2 and not set(drawn) & set(target)
    picks = sorted(c for _, c in drawn)
    assert abs(picks[0] - 3) <= 2 and abs(picks[1] - 10) <= 2  # among the 4 nearest in size rank


def test_plan_controls_are_matched_to_the_leading_set():
    net, (x, y) = GrayTwoLayerNet().eval(), mid_images(8)
    a = analyze(net, x, y, sweep([0.0, 0.1], ["body.conv", "body.relu"], noise=True))
    sets = plan(a, 1, (1,), draws=2, seed=0)  # 3 channels a layer: room for a control outside the target
    lead = {p.k: p for p in sets if p.kind == RANK_BY[0]}
    controls = [p for p in sets if p.kind in ("random", "magnitude")]
    assert len(controls) == 4
    for p in controls:
        assert p.control == RANK_BY[0] and not set(p.channels) & set(lead[p.k].channels)
        assert sorted(la for la, _ in p.channels) == sorted(la for la, _ in lead[p.k].channels)


def test_the_renderer_s_bound_on_sets_is_what_plan_makes_at_most():
    """budgets.py refuses a folder's patching entry above ``most_sets``: a real plan meets it exactly when
    the leading measure is a third one (sigma, excess and it), and stays under it otherwise."""
    net, (x, y) = GrayTwoLayerNet().eval(), mid_images(8)
    a = analyze(net, x, y, sweep([0.0, 0.1], ["body.conv", "body.relu"], noise=True))
    ladder, draws = (1,), 3  # one channel of three: its controls fit outside it in either layer
    counts = {rank_by: len(plan(a, 1, ladder, draws=draws, seed=0, rank_by=rank_by)) for rank_by in RANK_BY}
    assert counts["zscore"] == most_sets(len(ladder), draws, layers=2)
    assert counts["sigma"] == counts["excess"] == most_sets(len(ladder), draws, layers=2) - len(ladder)


def test_the_strongest_attack_is_primary_ties_to_the_first_listed():
    assert strongest(["fgsm", "pgd"], {"fgsm": 0.62, "pgd": 0.41}) == "pgd"
    assert strongest(["pgd", "fgsm"], {"fgsm": 0.41, "pgd": 0.41}) == "pgd"
    assert strongest(["fgsm", "pgd"], {"fgsm": 0.41, "pgd": 0.41}) == "fgsm"


def test_choose_reads_the_robust_accuracy_at_the_largest_eps_and_obeys_the_flag():
    class Fake:
        def __init__(self, acc):
            self.accuracy = acc

    by_attack = {
        "fgsm": {"standard": Fake([1.0, 0.2, 0.1]), "robust": Fake([0.9, 0.3, 0.5])},
        "pgd": {"standard": Fake([1.0, 0.1, 0.0]), "robust": Fake([0.9, 0.5, 0.2])},
    }
    cfg = Config(attack=["fgsm", "pgd"], eps=[0.0, 0.2, 0.1])  # the largest eps is the middle one
    assert choose(cfg, by_attack)["name"] == "fgsm"  # 0.3 < 0.5 at eps 0.2
    assert choose(Config(attack=["fgsm", "pgd"], eps=[0.0, 0.1, 0.2]), by_attack)["name"] == "pgd"
    assert choose(Config(attack=["fgsm", "pgd"], eps=[0.0, 0.1, 0.2], primary="fgsm"), by_attack)["name"] == "fgsm"
    assert first(cfg, "pgd").attack == ["pgd", "fgsm"]


def _magnitude_by_full_sort(target, scale, rng):
    """The magnitude control the plain way: every free channel sorted by distance in size rank."""
    taken, out = set(target), []
    for layer, ch in target:
        by_size = sorted(range(len(scale[layer])), key=lambda c: (float(scale[layer][c]), c))
        here = by_size.index(ch)
        free = [c for c in by_size if (layer, c) not in taken]
        near = sorted(free, key=lambda c: (abs(by_size.index(c) - here), c))[:4]
        if near:
            pick = int(near[int(rng.integers(len(near)))])
            taken.add((layer, pick))
            out.append((layer, pick))
    return tuple(sorted(out))


def test_the_magnitude_control_s_outward_walk_equals_the_full_sort():
    gen = torch.Generator().manual_seed(3)
    scale = {"a": torch.rand(40, generator=gen, dtype=torch.float64), "b": torch.rand(9, generator=gen).double()}
    scale["a"][5:9] = 0.5  # ties in size: broken by channel index, as in the sort
    for r in range(30):
        pick = np.random.default_rng(r)
        target = [("a", int(c)) for c in pick.choice(40, 12, replace=False)] + [("b", int(pick.integers(9)))]
        assert magnitude_matched(target, scale, np.random.default_rng(r)) == _magnitude_by_full_sort(
            target, scale, np.random.default_rng(r)
        )


def test_a_control_is_drawn_only_where_it_fits_outside_its_target():
    widths = {"l": torch.zeros(6), "m": torch.zeros(3)}
    assert control_fits([("l", 0), ("l", 1), ("l", 2), ("m", 0)], widths)
    assert not control_fits([("l", 0), ("m", 0), ("m", 1)], widths)  # m: 2 taken, 1 left
    with pytest.raises(ValueError):
        layer_matched([("m", 0), ("m", 1)], widths, np.random.default_rng(0))
