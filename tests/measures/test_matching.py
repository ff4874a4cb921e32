"""Cross-model statistics (issue 28): streamed sums against a direct computation, exact merge, the
matching of a channel-permuted copy, CKA, the shuffled-image baseline and results.json's entry."""

from __future__ import annotations

import copy
import json

import numpy as np
import torch
from torch import nn

from rnnviz.measures.matching import matching_results
from rnnviz.measures.ranking import EpsRanking
from rnnviz.measures.similarity import (
    assignment,
    baseline_correlation,
    cka,
    correlation,
    threshold,
)
from rnnviz.sweep.cross import CrossStats, cross_model_stats, merge_cross
from rnnviz.sweep.hooks import LayerHooks, channel_mean
from rnnviz.sweep.loop import analyze_attacks
from rnnviz.sweep.settings import SweepSettings

LAYERS = ["conv1", "conv2"]


class SmallNet(nn.Module):
    def __init__(self, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.conv1, self.relu = nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()
        self.conv2, self.fc = nn.Conv2d(8, 6, 3, padding=1), nn.Linear(6, 4)

    def forward(self, x):
        h = self.relu(self.conv2(self.relu(self.conv1(x))))
        return self.fc(h.mean((2, 3)))


def permuted(net: SmallNet, p1: torch.Tensor, p2: torch.Tensor) -> SmallNet:
    """The same function with conv1's channels in order ``p1`` and conv2's in order ``p2``:
    channel j of the copy is channel p[j] of the original (the next layer's inputs follow)."""
    out = copy.deepcopy(net)
    with torch.no_grad():
        out.conv1.weight.copy_(net.conv1.weight[p1])
        out.conv1.bias.copy_(net.conv1.bias[p1])
        out.conv2.weight.copy_(net.conv2.weight[p2][:, p1])
        out.conv2.bias.copy_(net.conv2.bias[p2])
        out.fc.weight.copy_(net.fc.weight[:, p2])
    return out


def pixels(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def features(net: nn.Module, x: torch.Tensor) -> dict[str, np.ndarray]:
    with torch.no_grad(), LayerHooks(net, LAYERS) as hooks:
        return {k: channel_mean(v).double().numpy() for k, v in hooks.run(x).items()}


def direct_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.corrcoef(a.T, b.T)[: a.shape[1], a.shape[1] :]


def direct_cka(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(0), b - b.mean(0)
    return float(np.linalg.norm(a.T @ b) ** 2 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)))


def test_streamed_sums_equal_a_direct_computation_from_stored_activations():
    std, rob, x = SmallNet(0), SmallNet(1), pixels(23)
    stats = cross_model_stats({"standard": std, "robust": rob}, x, LAYERS, batch_size=7)
    fs, fr = features(std, x), features(rob, x)
    assert stats.n == 23 and stats.n_shuffled == 22 and list(stats.pending) == [22]
    for ls in LAYERS:
        np.testing.assert_allclose(correlation(stats, ls), direct_corr(fs[ls], fr[ls]), atol=1e-10)
        for lr in LAYERS:
            assert abs((cka(stats, ls, lr) or 0) - direct_cka(fs[ls], fr[lr])) < 1e-10
        partner = np.arange(22) ^ 1  # image i paired with i xor 1; image 22 has no partner
        np.testing.assert_allclose(
            baseline_correlation(stats, ls), direct_corr(fs[ls][:22], fr[ls][partner]), atol=1e-10
        )


def _fed(acts: dict, spans: list[tuple[int, int]]) -> CrossStats:
    """One accumulator fed the images of ``spans`` (start, stop), a batch each."""
    stats = CrossStats(LAYERS)
    for a, b in spans:
        stats.add({k: v[a:b] for k, v in acts["standard"].items()}, {k: v[a:b] for k, v in acts["robust"].items()}, a)
    return stats


def test_merge_of_two_halves_equals_one_pass():
    g = torch.Generator().manual_seed(1)
    acts = {
        m: {k: torch.randn(30, c, 4, 4, generator=g) for k, c in zip(LAYERS, (8, 6))} for m in ("standard", "robust")
    }
    whole = _fed(acts, [(0, 8), (8, 16), (16, 24), (24, 30)])
    first = _fed(acts, [(0, 5), (5, 10), (10, 13)])  # image 12 waits for 13, in the other half
    second = _fed(acts, [(13, 17), (17, 21), (21, 30)])
    assert list(first.pending) == [12] and list(second.pending) == [13]
    merged = merge_cross([first, second])
    assert merged is not None and merged.n == whole.n and merged.n_shuffled == whole.n_shuffled == 30
    assert not merged.pending
    for key in whole.cross:
        torch.testing.assert_close(merged.cross[key], whole.cross[key], rtol=1e-12, atol=1e-12)
    for layer in LAYERS:
        torch.testing.assert_close(merged.shuffled[layer], whole.shuffled[layer], rtol=1e-12, atol=1e-12)
        for role in ("standard", "robust"):
            torch.testing.assert_close(merged.grams[role][layer], whole.grams[role][layer], rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(merged.sums[role][layer], whole.sums[role][layer], rtol=1e-12, atol=1e-12)


def test_matching_recovers_a_channel_permutation_and_cka_is_one():
    net = SmallNet(0)
    p1, p2 = torch.randperm(8, generator=torch.Generator().manual_seed(3)), torch.tensor([2, 0, 5, 1, 4, 3])
    twin, x = permuted(net, p1, p2), pixels(64)
    torch.testing.assert_close(twin(x), net(x), rtol=1e-5, atol=1e-5)  # the same function
    stats = cross_model_stats({"standard": net, "robust": twin}, x, LAYERS, batch_size=16)
    for layer, p in zip(LAYERS, (p1, p2)):
        partner = assignment(correlation(stats, layer))
        np.testing.assert_array_equal(partner[p.numpy()], np.arange(len(p)))  # twin channel j = original p[j]
        assert abs((cka(stats, layer, layer) or 0) - 1.0) < 1e-9
    assert (cka(stats, "conv1", "conv2") or 1) < 0.99


def test_the_shuffled_baseline_is_near_zero_for_independent_networks():
    stats = cross_model_stats({"standard": SmallNet(0), "robust": SmallNet(5)}, pixels(400), LAYERS, batch_size=64)
    for layer in LAYERS:
        base = baseline_correlation(stats, layer)
        assert base is not None and abs(base.mean()) < 0.05
        assert (threshold(base) or 1) < 4 / np.sqrt(400)  # chance |r| of ~400 independent pairs
    assert threshold(None) is None


def test_a_constant_channel_correlates_with_nothing():
    stats = CrossStats(["a"])
    x = torch.randn(10, 2)
    x[:, 1] = 3.0
    stats.add({"a": x}, {"a": torch.randn(10, 3)})
    r = correlation(stats, "a")
    assert r.shape == (2, 3) and np.all(r[1] == 0) and np.all(np.abs(r[0]) <= 1)


def test_results_entry_of_a_permuted_twin_names_its_twin_channel_with_the_same_sensitivity():
    net = SmallNet(0)
    p1, p2 = torch.randperm(8, generator=torch.Generator().manual_seed(4)), torch.tensor([1, 0, 3, 2, 5, 4])
    twin, x = permuted(net, p1, p2), pixels(48)
    y = net(x).argmax(1)
    settings = SweepSettings(eps=[0.0, 0.1], layers=LAYERS, batch_size=16, noise=True)
    models = {"standard": net, "robust": twin}
    analyses = {m: analyze_attacks(models[m], x, y, settings, ["fgsm"])["fgsm"] for m in models}
    ranking = {m: [None, EpsRanking(analyses[m], 1, "sigma").summary(3, [])] for m in models}
    stats = cross_model_stats(models, x, LAYERS, batch_size=16)
    out = matching_results(stats, analyses, ranking)
    assert out is not None and matching_results(None, analyses, ranking) is None
    assert out["n_images"] == 48 and len(out["cka"]) == 2 and abs(out["cka"][0][0] - 1) < 1e-9
    assert out["top"]["standard"][0] is None and len(out["top"]["robust"][1]) == 3
    perm = {"conv1": p1.tolist(), "conv2": p2.tolist()}
    for m in models:
        for e in out["top"][m][1]:
            expected = perm[e["layer"]].index(e["channel"]) if m == "standard" else perm[e["layer"]][e["channel"]]
            assert e["partner"] == e["best"] == expected and e["real"]
            assert abs(e["r"] - 1) < 1e-9 and e["partner_rank"] == e["rank"]
            assert abs(e["sensitivity_ratio"] - 1) < 1e-4


def test_report_section_words_and_rows():
    """The torch-free section: ordinals, the σ share in words, the summary sentence from the entry."""
    from fixtures.make_matching import matching as fake_matching

    from rnnviz.report.sections import matching as section

    assert [section.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 102)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "102nd",
    ]
    assert section.share(0.2) == "1/5 of the change" and section.share(1.0) == "about the same change"
    assert section.share(3.5) == "3.5× the change" and section.share(0.01) == "1% of the change"
    top = {"standard": [[], [{"layer": "layer4", "channel": 17, "sensitivity": 0.4}]], "robust": [[], []]}
    from fixtures.make_results import typed
    from fixtures.record import RECORDED

    # the small recording (eps 0 and 0.1, its sweet spot at 0.1) with the hand-made matching
    recorded = json.loads((RECORDED / "small" / "results.json").read_text(encoding="utf-8"))
    results = typed({**recorded, "matching": fake_matching(top, ["layer4"], 10), "replication": None})
    assert results.config.eps_labels == ["0", "0.1"] and results.sweet_spot.best_index == 1
    (sentence,) = section.summary(results)
    assert sentence == (
        "At ε = 0.1, 1 of the standard model's top 1 channels has a real counterpart in the robust model "
        "(correlation of clean activations above the shuffled-image 99th percentile); standard layer4 ch17 ↔ "
        "robust ch23, r = 0.85: ch23 ranks 1st in the robust model with 1/5 of the change."
    )
    ctx = section.context(results)
    assert ctx["layer_rows"] == [
        {"layer": "layer4", "cka": "0.95", "threshold": "0.31", "real": "32 / 32", "median": "0.74"}
    ]
    assert [b["label"] for b in ctx["eps_blocks"]] == ["0.1"] and ctx["eps_blocks"][0]["rows"][0][
        "partner_rank"
    ] == "1st"
