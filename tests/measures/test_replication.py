"""Replication across training seeds (issue 28): the matched top-k overlap of two tiny random-init
ResNets, of a net with itself and with a channel-permuted copy, and the ratio per pair against a
direct recomputation from recorded activations."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from helpers import images, tiny_resnet

from rnnviz.common.names import MODELS
from rnnviz.data.images import ImageSet
from rnnviz.models.loading import LoadedModel
from rnnviz.models.zoo.net import WIDTHS
from rnnviz.results.parts import Findings, Measured, Run, rank
from rnnviz.results.replication import Replica, replication_results
from rnnviz.settings.config import Config
from rnnviz.sweep.attacks import fgsm
from rnnviz.sweep.cross import cross_model_stats
from rnnviz.sweep.hooks import LayerHooks
from rnnviz.sweep.loop import analyze_attacks
from rnnviz.sweep.sensitivity import channel_l1, channel_scale
from rnnviz.sweep.settings import SweepSettings

LAYERS = ["relu", "layer1.0", "layer2.0", "layer3.0", "layer4.0"]
EPS = [0.0, 0.1]
CFG = Config(eps=EPS, top_k=5, rank_by="sigma")


def permuted_resnet(loaded: LoadedModel, seed: int) -> tuple[LoadedModel, list[torch.Tensor]]:
    """The same function with the channels of each residual stream (widths 16/32/64/128) reordered:
    channel j of the copy's stream s is channel perms[s][j] of the original's."""
    g = torch.Generator().manual_seed(seed)
    perms = [torch.randperm(w, generator=g) for w in WIDTHS]
    sd = {k: v.clone() for k, v in loaded.module.state_dict().items()}

    def outputs(prefix: str, p: torch.Tensor) -> None:
        for key in [k for k in sd if k.startswith(prefix + ".") and not k.endswith("num_batches_tracked")]:
            sd[key] = sd[key][p]

    def inputs(key: str, p: torch.Tensor) -> None:
        sd[key] = sd[key][:, p]

    outputs("conv1", perms[0])
    outputs("bn1", perms[0])
    for i in range(1, 5):
        block, into, out = f"layer{i}.0", perms[max(i - 2, 0)], perms[i - 1]
        outputs(f"{block}.conv2", out)
        outputs(f"{block}.bn2", out)
        inputs(f"{block}.conv1.weight", into)
        if f"{block}.downsample.0.weight" in sd:
            outputs(f"{block}.downsample.0", out)
            outputs(f"{block}.downsample.1", out)
            inputs(f"{block}.downsample.0.weight", into)
    inputs("fc.weight", perms[3])
    twin = copy.deepcopy(loaded)
    twin.module.load_state_dict(sd)
    twin.name = f"{loaded.name}, permuted"
    return twin, perms


def _pixels(n: int = 24):
    x, y = images(n, seed=5)
    return x, y


def _analyses(models: dict[str, LoadedModel], x, y) -> dict:
    settings = SweepSettings(eps=EPS, layers=LAYERS, batch_size=8, bootstrap=20, noise=True)
    return {m: analyze_attacks(models[m].module, x, y, settings, ["fgsm"])["fgsm"] for m in MODELS}


def _run_parts(models: dict[str, LoadedModel], analyses: dict, x, y, replicas) -> tuple[Run, Measured, Findings]:
    """What ``replication_results`` reads of a run, made as the run makes it."""
    ranking, comparison = rank(CFG, analyses, [])
    run = Run(CFG, models, ImageSet(x, y, [0], ["x"] * len(x), "test images"))
    measured = Measured({CFG.primary_attack: analyses}, None, None, None, replicas=replicas)
    return run, measured, Findings(ranking, comparison, None, {})


def _replicate(run: dict[str, LoadedModel], other: dict[str, LoadedModel]) -> tuple[dict, dict]:
    """replication_results of the run's pair against ``other``, both measured on the same images."""
    x, y = _pixels()
    analyses = _analyses(run, x, y)
    cross = {m: cross_model_stats({"standard": run[m].module, "robust": other[m].module}, x, LAYERS, 8) for m in MODELS}
    replica = Replica({m: other[m].describe() for m in MODELS}, _analyses(other, x, y), cross)
    return replication_results(*_run_parts(run, analyses, x, y, [replica])) or {}, analyses


@pytest.fixture(scope="module")
def pair() -> dict[str, LoadedModel]:
    return {"standard": tiny_resnet(0), "robust": tiny_resnet(1)}


def test_no_further_pair_gives_no_entry(pair):
    x, y = _pixels()
    run = Run(CFG, pair, ImageSet(x, y, [0], ["x"] * len(x), "test images"))
    for none in ([], None):
        measured = Measured({}, None, None, None, replicas=none)
        assert replication_results(run, measured, Findings({}, [], None, {})) is None


def test_a_pair_against_itself_overlaps_fully(pair):
    out, _ = _replicate(pair, copy.deepcopy(pair))  # its own modules: one module cannot be hooked as two
    first, second = out["pairs"]
    assert first["overlap"] is None and second["comparison"] == first["comparison"]
    for m in MODELS:
        assert second["overlap"][m][0] is None  # nothing is ranked at eps = 0
        o = second["overlap"][m][1]
        assert o["k"] == 5 and o["matched_jaccard"] == 1.0 and o["raw_jaccard"] == 1.0 and o["n_real"] == 5
        assert [(r["layer"], r["partner"]) for r in o["mapped"]] == [(r["layer"], r["channel"]) for r in o["mapped"]]


def test_a_channel_permuted_copy_overlaps_fully_after_matching_only(pair):
    twins = {m: permuted_resnet(pair[m], seed) for m, seed in zip(MODELS, (11, 12))}
    x, _ = _pixels()
    for m in MODELS:
        with torch.no_grad():
            torch.testing.assert_close(twins[m][0].module(x), pair[m].module(x), rtol=1e-4, atol=1e-4)
    out, _ = _replicate(pair, {m: twins[m][0] for m in MODELS})
    second = out["pairs"][1]
    stream = {layer: s for layer, s in zip(LAYERS, (0, 0, 1, 2, 3))}
    raw = []
    for m in MODELS:
        o = second["overlap"][m][1]
        assert o["matched_jaccard"] == 1.0 and o["n_real"] == o["k"] == 5
        for row in o["mapped"]:  # twin channel j is original perms[s][j], so channel c went to argsort(p)[c]
            p = twins[m][1][stream[row["layer"]]]
            assert row["partner"] == int(torch.argsort(p)[row["channel"]]) and row["r"] > 0.999
        raw.append(o["raw_jaccard"])
    assert min(raw) < 1.0  # without matching, channel numbers disagree
    for a, b in zip(out["pairs"][0]["comparison"][1:], second["comparison"][1:]):
        assert abs(a["ratio"] - b["ratio"]) < 1e-4 * a["ratio"]  # the same function, the same ratio


def _relative(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    """Mean over layers of (mean channel σ) / (mean channel clean |F|), from recorded activations."""
    adv = fgsm(module, x, y, eps)
    with torch.no_grad(), LayerHooks(module, LAYERS) as hooks:
        clean = {k: v.clone() for k, v in hooks.run(x).items()}
        changed = {k: v.clone() for k, v in hooks.run(adv).items()}
    scale = channel_scale(clean)
    per_layer = [
        float(channel_l1(clean[k], changed[k]).double().mean(0).mean() / scale[k].double().mean(0).mean())
        for k in LAYERS
    ]
    return float(np.mean(per_layer))


def test_the_ratio_per_pair_equals_a_direct_recomputation(pair):
    other = {"standard": tiny_resnet(2), "robust": tiny_resnet(3)}
    out, _ = _replicate(pair, other)
    x, y = _pixels()
    for entry, models in zip(out["pairs"], (pair, other)):
        direct = _relative(models["standard"].module, x, y, 0.1) / _relative(models["robust"].module, x, y, 0.1)
        got = entry["comparison"][1]
        assert entry["comparison"][0] is None and abs(got["ratio"] - direct) < 1e-4 * direct
        assert got["ratio_ci"][0] <= got["ratio"] <= got["ratio_ci"][1]
    assert out["pairs"][1]["models"]["standard"]["name"] == "tiny resnet (seed 2)"


def test_chance_overlap_by_hand():
    from rnnviz.measures.replication import chance_overlap, p_at_least

    # one layer of 4 channels, one channel each: they coincide with probability 1/4 (Jaccard 1, else 0)
    one = chance_overlap({"a": 4}, [("a", 0)], [("a", 2)])
    assert one["expected"] == pytest.approx(0.25) and p_at_least(one, 1.0) == pytest.approx(0.25)
    assert p_at_least(one, 0.0) == pytest.approx(1.0)


def test_chance_overlap_equals_enumerating_every_draw():
    import itertools

    from rnnviz.measures.replication import chance_overlap, jaccard

    widths = {"a": 5, "b": 3}
    first = [("a", 0), ("a", 1), ("b", 2)]
    second_counts = {"a": 2, "b": 1}
    draws = [
        [("a", i) for i in ia] + [("b", j) for j in jb]
        for ia in itertools.combinations(range(5), second_counts["a"])
        for jb in itertools.combinations(range(3), second_counts["b"])
    ]
    direct = np.mean([jaccard(first, d) for d in draws])
    got = chance_overlap(widths, first, draws[0])
    assert got["expected"] == pytest.approx(direct)
    assert sum(got["probabilities"]) == pytest.approx(1.0)
