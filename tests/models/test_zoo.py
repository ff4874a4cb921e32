"""The built-in Fashion-MNIST pair: shipped files, architecture contract, and a real robustness gap."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnviz.common.errors import UsageError
from rnnviz.common.files import sha256_file
from rnnviz.models.zoo import (
    BUILTIN_NETS,
    BUILTIN_SHA256,
    FASHION_CLASSES,
    FashionResNet,
    FashionVGG,
    builtin_weights_path,
    load_fashion_sample,
)
from rnnviz.pipeline import train_builtin as train
from rnnviz.pipeline.train_builtin import DEFAULT_DATA, SPLITS, TrainingRecipe, as_rgb, evaluate, fit, load_split
from rnnviz.sweep import attacks

EPS = 0.1


def load_builtin(name: str) -> torch.nn.Module:
    model = BUILTIN_NETS[name][0]()
    model.load_state_dict(torch.load(builtin_weights_path(name), weights_only=True))
    return model.eval()


def fgsm_accuracy(model, x, y, eps: float) -> float:
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    adv = (x + eps * grad.sign()).clamp(0, 1)
    with torch.no_grad():
        return (model(adv).argmax(1) == y).float().mean().item()


@pytest.mark.parametrize("name", sorted(BUILTIN_SHA256))
def test_shipped_weights_match_their_sha256(name):
    assert sha256_file(builtin_weights_path(name)) == BUILTIN_SHA256[name]


def test_unknown_builtin_name_is_a_usage_error():
    with pytest.raises(UsageError, match="fashion-standard"):
        builtin_weights_path("fashion-nope")


def test_net_has_torchvision_style_names():
    model = FashionResNet()
    conv = model.get_submodule("layer3.0.conv2")
    assert isinstance(conv, torch.nn.Conv2d) and conv.out_channels == 64
    assert model.get_submodule("layer2.0.downsample.0").stride == (2, 2)
    assert model.get_submodule("fc").out_features == len(FASHION_CLASSES)


def test_net_takes_rgb_in_unit_range_and_returns_logits():
    model = FashionResNet().eval()
    with torch.no_grad():
        assert model(torch.rand(5, 3, 28, 28)).shape == (5, 10)


def test_sample_is_class_balanced_uint8():
    images, labels = load_fashion_sample()
    assert images.shape == (1000, 28, 28) and images.dtype.name == "uint8"
    assert labels.dtype.name == "int64" and (torch.bincount(torch.from_numpy(labels)) == 100).all()


@pytest.mark.parametrize("prefix", ["fashion", "fashion-vgg"])
def test_robust_model_resists_fgsm_better_than_standard(prefix):
    images, labels = load_fashion_sample()
    x, y = as_rgb(images[:200]), torch.from_numpy(labels[:200])
    standard, robust = load_builtin(f"{prefix}-standard"), load_builtin(f"{prefix}-robust")
    with torch.no_grad():
        assert (standard(x).argmax(1) == y).float().mean() >= 0.85
    assert fgsm_accuracy(robust, x, y, EPS) > fgsm_accuracy(standard, x, y, EPS) + 0.3


def test_eps_zero_attack_reproduces_clean_accuracy():
    images, labels = load_fashion_sample()
    result = evaluate(load_builtin("fashion-robust"), images[:100], labels[:100], eps=0.0, pgd_steps=2)
    assert result["clean"] == result["fgsm"] == result["pgd2"]


def test_vgg_net_has_stages_and_is_small():
    model = FashionVGG().eval()
    assert [n for n, _ in model.named_children() if n.startswith("stage")] == ["stage1", "stage2", "stage3", "stage4"]
    assert isinstance(model.get_submodule("stage4.2"), torch.nn.ReLU)
    with torch.no_grad():
        assert model(torch.rand(3, 3, 28, 28)).shape == (3, 10)
    assert sum(p.numel() for p in model.parameters()) < 700_000  # weights file under 3 MB


@pytest.mark.parametrize("name", sorted(BUILTIN_SHA256))
def test_shipped_weights_are_under_3_mb(name):
    assert builtin_weights_path(name).stat().st_size < 3 * 2**20


def test_training_uses_the_engines_attacks():
    assert train.fgsm is attacks.fgsm and train.pgd is attacks.pgd and train.input_gradient is attacks.input_gradient


@pytest.mark.parametrize(
    "mode, net",
    [
        ("standard", FashionResNet),
        ("standard", FashionVGG),
        pytest.param("robust", FashionVGG, marks=pytest.mark.slow),  # PGD steps in training: make test-all
        pytest.param("robust", FashionResNet, marks=pytest.mark.slow),  # 4x the others: PGD steps on a ResNet
    ],
)
def test_short_training_lowers_the_loss(mode, net):
    images, labels = load_fashion_sample()
    torch.manual_seed(0)
    losses = fit(
        net(), images[:256], labels[:256], TrainingRecipe(mode, epochs=2, seed=0, batch_size=32), log=lambda _: None
    )
    assert losses[-1] < losses[0]


def test_missing_data_names_the_fix(tmp_path):
    with pytest.raises(UsageError, match="apt-get install dataset-fashion-mnist"):
        load_split(tmp_path, "train")


@pytest.mark.slow
@pytest.mark.skipif(
    not all((DEFAULT_DATA / f).is_file() for f in SPLITS["train"]), reason="Fashion-MNIST not installed"
)
def test_one_epoch_on_real_data_learns():
    images, labels = load_split(DEFAULT_DATA, "train")
    torch.manual_seed(0)
    model = FashionResNet()
    fit(model, images, labels, TrainingRecipe("standard", epochs=1, seed=0), log=lambda _: None)
    sample_images, sample_labels = load_fashion_sample()
    assert evaluate(model, sample_images, sample_labels, pgd_steps=1)["clean"] >= 0.8


@pytest.mark.parametrize("name", ["fashion-vgg-standard", "fashion-vgg-robust"])
def test_builtin_vgg_pair_loads_by_spec_and_from_its_file(name):
    from rnnviz.models.loading import load_model

    by_spec, by_file = load_model(f"builtin:{name}"), load_model(str(builtin_weights_path(name)))
    assert by_spec.arch == by_file.arch == "fashion_vgg" and by_spec.sha256 == by_file.sha256
    assert by_spec.default_layers == ["stage1", "stage2", "stage3", "stage4"] and by_spec.grayscale
