"""The ranking's trust measures against direct, non-streamed recomputations (issue 11)."""

import dataclasses

import numpy as np
import pytest
import torch
from helpers import TwoLayerNet, freeze, images, sweep, tiny_resnet

from rnnviz.measures.ranking import EpsRanking, compare, jaccard
from rnnviz.sweep import bootstrap, draws
from rnnviz.sweep.attacks import fgsm
from rnnviz.sweep.bootstrap import SUBSET_DRAWS, SUBSET_FRACTIONS, ImageWeights, image_uniform, interval
from rnnviz.sweep.loop import analyze
from rnnviz.sweep.noise import NoiseControl, matched_noise, sized_noise
from rnnviz.sweep.sensitivity import channel_l1

LAYERS = ["layer2.0", "layer4.0"]


@pytest.fixture(scope="module")
def model():
    return tiny_resnet().module


@pytest.fixture(scope="module")
def data():
    x, y = images(12, seed=5)
    return x, y % 3  # three classes, four images each on average


def per_image(model, x, y, eps, layers, noise=False):
    """The plain way: every image's per-channel |dF| (and |F|) kept in memory, no hooks module."""
    outputs = {}

    def keep(name):
        return lambda _m, _i, out: outputs.__setitem__(name, out.detach().clone())

    handles = [model.get_submodule(n).register_forward_hook(keep(n)) for n in layers]
    try:
        with torch.no_grad():
            model(x)
            clean = dict(outputs)
            # the baseline is matched to the attack in the model's input: this model reads grayscale
            index = torch.arange(len(x))
            attacked = fgsm(model, x, y, eps)  # the noise has the size the attack applied to each image
            perturbed = (
                sized_noise(x, attacked - x, eps, 0, index, NoiseControl("linf", "grayscale")) if noise else attacked
            )
            model(perturbed)
            adv = dict(outputs)
    finally:
        for h in handles:
            h.remove()
    return (
        {n: channel_l1(clean[n], adv[n]).double() for n in layers},
        {n: clean[n].abs().flatten(2).mean(2).double() for n in layers},
    )


def test_streamed_bootstrap_equals_direct_weighted_means(model, data):
    x, y = data
    a = analyze(model, x, y, sweep([0.0, 0.05], LAYERS, bootstrap=7, classes=[0, 1, 2], batch_size=5))
    q, _ = per_image(model, x, y, 0.05, LAYERS)
    w = ImageWeights(7, (0, 1, 2), 0).of(torch.arange(12), y)
    cols = a.weights.columns("bootstrap")
    streamed = a.measures[1].sigma_w.means(cols)
    for name in LAYERS:
        direct = (w[:, cols].T @ q[name]) / w[:, cols].sum(0)[:, None]
        assert torch.allclose(streamed[name], direct, rtol=1e-5, atol=1e-8)
    by_class = a.measures[1].sigma_w.means(a.weights.columns("classes"))
    for c in range(3):
        assert torch.allclose(by_class["layer4.0"][c], q["layer4.0"][y == c].mean(0), rtol=1e-5, atol=1e-8)


def test_poisson_weights_depend_on_the_image_not_the_batch():
    weights = ImageWeights(50, (0, 1), seed=3)
    whole = weights.of(torch.arange(10), torch.arange(10) % 2)
    parts = torch.cat(
        [weights.of(torch.arange(i, min(i + 3, 10)), torch.arange(i, min(i + 3, 10)) % 2) for i in range(0, 10, 3)]
    )
    assert torch.equal(whole, parts)
    assert abs(float(whole[:, :50].mean()) - 1.0) < 0.2  # Poisson(1)
    assert not torch.equal(whole, ImageWeights(50, (0, 1), seed=4).of(torch.arange(10), torch.arange(10) % 2))
    subsets = whole[:, weights.columns("subsets")].reshape(10, SUBSET_DRAWS, len(SUBSET_FRACTIONS))
    assert (subsets[:, :, 0] <= subsets[:, :, 1]).all() and (subsets[:, :, 1] <= subsets[:, :, 2]).all()  # nested
    assert torch.equal(
        subsets[:, 0, :],
        (image_uniform(3, torch.arange(10))[:, None] < torch.tensor(SUBSET_FRACTIONS, dtype=torch.float64)).double(),
    )
    assert not torch.equal(subsets[:, 0], subsets[:, 1])  # the draws differ


def test_convergence_is_the_mean_and_range_over_independent_subsets(model, data):
    """Each fraction's Jaccard against a direct recomputation: the images each subset draw holds,
    their mean |dF|, its top-k against the full top-k; then the mean, min and max over the draws."""
    x, y = data
    a = analyze(model, x, y, sweep([0.0, 0.05], LAYERS, bootstrap=4, batch_size=5))
    rows = EpsRanking(a, 1, "sigma").summary(3, [])["convergence"]
    q, _ = per_image(model, x, y, 0.05, LAYERS)
    flat = torch.cat([q[n] for n in LAYERS], dim=1)
    full = sorted(range(flat.shape[1]), key=lambda j: (-float(flat[:, j].mean()), j))[:3]
    u = draws.uniform(0, bootstrap._SUBSET_STREAM, torch.arange(12), SUBSET_DRAWS)
    for f, fraction in enumerate(SUBSET_FRACTIONS):
        scores = []
        for d in range(SUBSET_DRAWS):
            held = u[:, d] < fraction
            if held.any():
                mean = flat[held].mean(0)
                scores.append(jaccard(sorted(range(len(mean)), key=lambda j: (-float(mean[j]), j))[:3], full))
        row = rows[f]
        assert row["draws"] == len(scores) and row["fraction"] == fraction
        assert row["jaccard"] == pytest.approx(float(np.mean(scores)))
        assert row["jaccard_range"] == [min(scores), max(scores)]
    assert rows[-1] == {"fraction": 1.0, "n_images": 12, "jaccard": 1.0, "jaccard_range": [1.0, 1.0], "draws": 1}


def test_same_seed_same_intervals_for_any_batch_size(model, data):
    x, y = data
    summaries = []
    for batch in (1, 3, 8):
        a = analyze(
            model, x, y, sweep([0.0, 0.05], LAYERS, bootstrap=20, noise=True, classes=[0, 1, 2], batch_size=batch)
        )
        summaries.append(EpsRanking(a, 1, "sigma").summary(3, ["a", "b", "c"]))
    for other in summaries[1:]:
        assert [r["p_top"] for r in other["top"]] == [r["p_top"] for r in summaries[0]["top"]]
        for got, want in zip(other["top"], summaries[0]["top"]):
            assert got["sensitivity_ci"] == pytest.approx(want["sensitivity_ci"], rel=1e-5)
            assert got["excess_ci"] == pytest.approx(want["excess_ci"], rel=1e-4, abs=1e-7)
        assert other["expected_jaccard"] == summaries[0]["expected_jaccard"]


def test_noise_baseline_equals_an_independent_computation(model, data):
    x, y = data
    a = analyze(model, x, y, sweep([0.0, 0.1], LAYERS, noise=True, batch_size=5))
    direct, _ = per_image(model, x, y, 0.1, LAYERS, noise=True)
    noise = a.measures[1].noise.channels()
    assert a.front is not None and a.front["front"] == "grayscale"
    for name in LAYERS:
        assert torch.allclose(noise[name], direct[name].mean(0), rtol=1e-5, atol=1e-8)
    signs = (matched_noise(x, 0.1, 0, torch.arange(12), NoiseControl("linf", "rgb", "sign")) - x) / 0.1
    inside = (x > 0.1) & (x < 0.9)  # away from the clamp, the step is exactly +-eps
    assert torch.allclose(signs[inside].abs(), torch.ones(int(inside.sum())), atol=1e-5)
    assert 0.4 < float((signs[inside] > 0).float().mean()) < 0.6


def test_relative_sigma_by_hand_on_a_two_layer_net():
    """conv channel c is w_c * x (x in [0.3, 0.7], away from the clamp); FGSM moves every pixel by eps
    where the gradient is non-zero, so sigma_c = |w_c| eps and the clean size is |w_c| mean(x):
    relative sigma = eps / mean(x) for the live channels, whatever their weight."""
    net = freeze(TwoLayerNet().double())
    x = (0.3 + 0.4 * torch.rand(6, 3, 5, 5, generator=torch.Generator().manual_seed(0))).double()
    y = torch.tensor([0, 1, 0, 1, 0, 1])
    eps = 0.05
    a = analyze(net, x, y, sweep([0.0, eps], ["conv"], bootstrap=0))
    rows = {r["channel"]: r for r in EpsRanking(a, 1, "sigma").summary(3, [])["top"]}
    for ch in (0, 2):
        assert rows[ch]["relative"] == pytest.approx(eps / float(x[:, ch].mean()), rel=1e-9)
    assert rows[1]["sensitivity"] == 0.0


def test_top_k_probability_and_jaccard_against_direct_resampling(model, data):
    x, y = data
    a = analyze(model, x, y, sweep([0.0, 0.05], LAYERS, bootstrap=30, batch_size=4))
    ranking = EpsRanking(a, 1, "sigma")
    summary = ranking.summary(4, [])
    q, _ = per_image(model, x, y, 0.05, LAYERS)
    flat = torch.cat([q[n] for n in LAYERS], dim=1)
    keys = [(n, c) for n in LAYERS for c in range(q[n].shape[1])]
    top = [keys.index((r["layer"], r["channel"])) for r in summary["top"]]
    assert top == sorted(range(flat.shape[1]), key=lambda j: (-float(flat[:, j].mean()), j))[:4]
    w = a.weights.of(torch.arange(12), y)[:, :30]
    sets = [torch.topk((w[:, b] @ flat) / w[:, b].sum(), 4).indices.tolist() for b in range(30)]
    for r, j in zip(summary["top"], top):
        assert r["p_top"] == pytest.approx(sum(j in s for s in sets) / 30)
    assert summary["expected_jaccard"] == pytest.approx(float(np.mean([jaccard(s, top) for s in sets])))


def test_merging_two_shards_equals_one_pass(model, data):
    """What torchrun's reduction will do: each process sweeps its shard (weights and noise keyed by
    the global image index), and merged sums equal one pass over all images."""
    x, y = data
    s = sweep([0.0, 0.05], LAYERS, bootstrap=5, noise=True, classes=[0, 1, 2])
    whole = analyze(model, x, y, s)
    first = analyze(model, x[:5], y[:5], s)
    second = analyze(model, x[5:], y[5:], dataclasses.replace(s, first_index=5))
    merged = first.measures[1].merge(second.measures[1])
    scale = first.scale.merge(second.scale)
    want = whole.measures[1]
    for name in LAYERS:
        assert torch.allclose(merged.sigma.channels()[name], want.sigma.channels()[name], rtol=1e-6)
        assert torch.allclose(merged.noise.channels()[name], want.noise.channels()[name], rtol=1e-6)
        for got, ref in (
            (merged.sigma_w, want.sigma_w),
            (merged.noise_w, want.noise_w),
            (scale.weighted, whole.scale.weighted),
        ):
            assert torch.allclose(got.sums[name], ref.sums[name], rtol=1e-6)
            assert torch.equal(got.totals, ref.totals)
    assert merged.sigma.count == 12


def test_compare_ratio_is_paired_and_inside_its_interval(model, data):
    x, y = data
    other = tiny_resnet(seed=1).module
    s = sweep([0.0, 0.05], LAYERS, bootstrap=40, noise=True)
    c = compare(EpsRanking(analyze(model, x, y, s), 1, "sigma"), EpsRanking(analyze(other, x, y, s), 1, "sigma"))
    assert c["ratio"] == pytest.approx(c["standard"] / c["robust"])
    lo, hi = c["ratio_ci"]
    assert lo <= c["ratio"] <= hi


def test_interval_is_the_percentile_range():
    lo, hi = interval(torch.arange(101, dtype=torch.float64)[:, None])
    assert float(lo) == pytest.approx(2.5) and float(hi) == pytest.approx(97.5)


def test_excess_ranking_ranks_by_sigma_minus_noise(model, data):
    x, y = data
    a = analyze(model, x, y, sweep([0.0, 0.05], LAYERS, noise=True))
    rows = EpsRanking(a, 1, "excess").summary(5, [])["top"]
    excess = [r["excess"] for r in rows]
    assert excess == sorted(excess, reverse=True)
    assert all(r["excess"] == pytest.approx(r["sensitivity"] - r["noise"]) for r in rows)
