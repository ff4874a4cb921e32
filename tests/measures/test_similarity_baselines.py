"""Baselines for CKA on the built-in Fashion-MNIST pair and the shipped images: a network against
itself, against a randomly initialised copy of its architecture, with the class means removed, and
shards merged, each against a plain (non-streamed) numpy computation on the same activations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnviz.measures.matching import PAIRS, baselines, matching_results
from rnnviz.measures.similarity import cka, has_classes
from rnnviz.models.loading import copy_signature, load_model, random_copy
from rnnviz.models.zoo import load_fashion_sample
from rnnviz.sweep.cross import cross_model_stats, merge_cross
from rnnviz.sweep.hooks import LayerHooks, channel_mean

LAYERS = ["relu", "layer1.0", "layer2.0", "layer4.0"]
N = 64
BATCH = 16
TOL = 1e-8  # float32 activations of a batch of BATCH and of all N images differ in the last bits


@pytest.fixture(scope="module")
def fashion():
    """The built-in standard and robust models, a random copy of their architecture, N shipped images."""
    images, labels = load_fashion_sample()
    x = torch.from_numpy(images[:N]).float().div(255).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
    std, rob = load_model("builtin:fashion-standard"), load_model("builtin:fashion-robust")
    return std, rob, random_copy(std, seed=0), x, torch.from_numpy(labels[:N]).long()


@pytest.fixture(scope="module")
def stats(fashion):
    """The streamed sums over all N images, BATCH at a time."""
    return streamed(fashion)


@pytest.fixture(scope="module")
def direct(fashion):
    """Each network's (N, C) features, stored: what the direct computations read."""
    std, rob, copy, x, _ = fashion
    return features(std.module, x), features(rob.module, x), features(copy, x)


def features(net, x: torch.Tensor) -> dict[str, np.ndarray]:
    with torch.no_grad(), LayerHooks(net, LAYERS) as hooks:
        return {k: channel_mean(v).double().numpy() for k, v in hooks.run(x).items()}


def direct_cka(a: np.ndarray, b: np.ndarray) -> float:
    """Kornblith et al.'s linear CKA on the stored (N, C) features, column-centred."""
    a, b = a - a.mean(0), b - b.mean(0)
    return float(np.linalg.norm(b.T @ a) ** 2 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)))


def class_centred(a: np.ndarray, labels: np.ndarray) -> np.ndarray:
    out = a.copy()
    for k in np.unique(labels):
        out[labels == k] -= a[labels == k].mean(0)
    return out


def direct_cka_class_removed(a: np.ndarray, b: np.ndarray, labels: np.ndarray) -> float:
    a, b = class_centred(a, labels), class_centred(b, labels)
    return float(np.linalg.norm(b.T @ a) ** 2 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)))


def streamed(fashion, batch_size: int = BATCH, span: tuple[int, int] = (0, N)):
    std, rob, copy, x, y = fashion
    a, b = span
    models = {
        "standard": std.module,
        "robust": rob.module,
        "random_standard": copy,
        "random_robust": copy,
    }
    return cross_model_stats(models, x[a:b], LAYERS, batch_size, first_index=a, labels=y[a:b])


def test_a_network_against_itself_has_cka_one_also_with_class_means_removed(fashion):
    std, _, _, x, y = fashion
    itself = cross_model_stats({"standard": std.module, "robust": std.module}, x, LAYERS, BATCH, labels=y)
    for layer in LAYERS:
        assert cka(itself, layer, layer) == pytest.approx(1.0, abs=1e-10)
        assert cka(itself, layer, layer, class_removed=True) == pytest.approx(1.0, abs=1e-10)


def test_cka_against_the_random_copy_equals_a_direct_numpy_cka(stats, direct):
    fs, fr, fc = direct
    for layer in LAYERS:
        assert cka(stats, layer, layer) == pytest.approx(direct_cka(fs[layer], fr[layer]), abs=TOL)
        got = cka(stats.baselines["random_standard"], layer, layer)
        assert got == pytest.approx(direct_cka(fs[layer], fc[layer]), abs=TOL)
        got = cka(stats.baselines["random_robust"], layer, layer)
        assert got == pytest.approx(direct_cka(fr[layer], fc[layer]), abs=TOL)
    # the trained pair is more alike than either model is to an untrained net in the deepest layer
    deep = LAYERS[-1]
    assert cka(stats, deep, deep) > cka(stats.baselines["random_standard"], deep, deep)


def test_class_mean_removed_cka_equals_a_direct_recomputation(fashion, stats, direct):
    assert has_classes(stats) and sum(stats.class_n.values()) == N and len(stats.class_n) > 3
    (fs, fr, fc), labels = direct, fashion[4].numpy()
    for layer in LAYERS:
        want = direct_cka_class_removed(fs[layer], fr[layer], labels)
        assert cka(stats, layer, layer, class_removed=True) == pytest.approx(want, abs=TOL)
        want = direct_cka_class_removed(fs[layer], fc[layer], labels)
        assert cka(stats.baselines["random_standard"], layer, layer, class_removed=True) == pytest.approx(want, abs=TOL)


def test_without_labels_the_class_removed_cka_is_absent(fashion):
    std, rob, _, x, _ = fashion
    stats = cross_model_stats({"standard": std.module, "robust": rob.module}, x[:20], LAYERS, 8)
    assert not has_classes(stats) and cka(stats, "relu", "relu", class_removed=True) is None


def test_merge_of_two_shards_equals_one_pass_for_every_baseline(fashion, stats):
    whole = stats  # the shards' batches are the whole's (BATCH apart), so are their activations
    parts = [streamed(fashion, span=(0, 3 * BATCH)), streamed(fashion, span=(3 * BATCH, N))]
    merged = merge_cross(parts)
    assert merged is not None and merged.n == N and set(merged.baselines) == set(whole.baselines)
    assert merged.class_n == whole.class_n
    for source, ref in [(merged, whole), *((merged.baselines[k], whole.baselines[k]) for k in whole.baselines)]:
        for key, value in ref.cross.items():
            torch.testing.assert_close(source.cross[key], value, rtol=1e-12, atol=1e-12)
        for role in ("standard", "robust"):
            for key, value in ref.class_sums[role].items():
                torch.testing.assert_close(source.class_sums[role][key], value, rtol=1e-12, atol=1e-12)
        for layer in LAYERS:
            for removed in (False, True):
                assert cka(source, layer, layer, removed) == pytest.approx(cka(ref, layer, layer, removed), abs=1e-12)


def test_the_random_copy_is_seeded_untrained_and_keeps_the_preprocessing(fashion):
    std, rob, copy, _, _ = fashion
    again, other = random_copy(std, seed=0), random_copy(std, seed=1)
    trained, fresh = std.module.state_dict(), copy.state_dict()
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in fresh.items())
    assert not torch.equal(fresh["conv1.weight"], other.state_dict()["conv1.weight"])
    assert not torch.equal(fresh["conv1.weight"], trained["conv1.weight"])
    assert torch.equal(fresh["pixel_mean"], trained["pixel_mean"]) and torch.equal(
        fresh["bn1.running_var"], torch.ones(16)
    )
    assert copy_signature(std) == copy_signature(rob)  # one copy serves the pair
    assert len({copy_signature(std), copy_signature(rob)}) == 1  # a dict key in the cross stage


def test_an_imagenet_style_copy_keeps_the_models_own_normalization():
    model = load_model("random:resnet18@32")
    with torch.no_grad():
        model.module.input_normalize.mean.fill_(0.5)
    copy = random_copy(model, seed=3)
    assert torch.equal(copy.input_normalize.mean, model.module.input_normalize.mean)
    assert torch.equal(copy.input_normalize.std, model.module.input_normalize.std)
    assert copy_signature(model) != copy_signature(load_model("random:resnet18@32"))
    assert hash(copy_signature(model)) is not None


def test_results_entry_sets_each_baseline_beside_the_pair(stats):
    seeds = {"standard": stats.baselines["random_standard"], "robust": stats.baselines["random_robust"]}
    table = baselines(stats, seeds, seed=7)
    assert table["random_seed"] == 7 and [r["layer"] for r in table["layers"]] == LAYERS
    for row in table["layers"]:
        assert set(row["cka"]) == set(PAIRS) == set(row["class_removed"])
        layer = row["layer"]
        assert row["cka"]["pair"] == cka(stats, layer, layer)
        assert row["cka"]["random_robust"] == row["cka"]["seed_robust"]
        assert row["class_removed"]["pair"] == cka(stats, layer, layer, class_removed=True)
    alone = matching_results(stats, {}, {"standard": [None], "robust": [None]})
    assert alone is not None and all(r["cka"]["seed_standard"] is None for r in alone["baselines"]["layers"])
