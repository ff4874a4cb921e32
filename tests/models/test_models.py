"""Model specs and checkpoint formats, fabricated in their published key layouts."""

import argparse

import pytest
import torch
import torchvision

from rnnviz.common.errors import UsageError
from rnnviz.models.loading import IMAGENET_MEAN, IMAGENET_STD, load_model
from rnnviz.sweep.hooks import check_layers

MADRY_MEAN, MADRY_STD = (0.4850, 0.4560, 0.4060), (0.2290, 0.2240, 0.2250)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


@pytest.fixture(scope="module")
def x():
    return torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def reference_logits(net, x, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        return net((x - m) / s)


def logits(model, x):
    with torch.no_grad():
        return model.module(x)


def test_plain_state_dict(tmp_path, net, x):
    path = tmp_path / "plain.pt"
    torch.save(net.state_dict(), path)
    model = load_model(str(path))
    assert model.arch == "resnet18" and not model.pickle_used and len(model.sha256) == 64
    assert torch.allclose(logits(model, x), reference_logits(net, x), atol=1e-5)
    assert not any(p.requires_grad for p in model.module.parameters()) and not model.module.training


def test_dataparallel_prefix_and_state_dict_key(tmp_path, net, x):
    path = tmp_path / "dp.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}, "epoch": 3}, path)
    assert torch.allclose(logits(load_model(str(path)), x), reference_logits(net, x), atol=1e-5)


def madry_checkpoint(net, mean, std):
    """MadryLab robustness layout: normalizer + model + a duplicate under attacker."""
    sd = {}
    for prefix in ("module.", "module.attacker."):
        sd[prefix + "normalizer.new_mean"] = torch.tensor(mean).view(3, 1, 1)
        sd[prefix + "normalizer.new_std"] = torch.tensor(std).view(3, 1, 1)
        sd.update({f"{prefix}model.{k}": v for k, v in net.state_dict().items()})
    return {"model": sd, "optimizer": {}, "schedule": None, "epoch": 90}


def test_madrylab_checkpoint_uses_its_normalizer(tmp_path, net, x):
    path = tmp_path / "resnet18_linf_eps4.0.ckpt"
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    torch.save(madry_checkpoint(net, mean, std), path)
    model = load_model(str(path))
    assert torch.allclose(logits(model, x), reference_logits(net, x, mean, std), atol=1e-5)


def test_madrylab_pickle_needs_explicit_trust(tmp_path, net, x):
    path = tmp_path / "pickled.ckpt"
    ck = madry_checkpoint(net, MADRY_MEAN, MADRY_STD)
    ck["args"] = argparse.Namespace(arch="resnet18")  # what makes real MadryLab files full pickles
    torch.save(ck, path)
    with pytest.raises(UsageError, match="--trust-pickle"):
        load_model(str(path))
    model = load_model(str(path), trust_pickle=True)
    assert model.pickle_used
    assert torch.allclose(logits(model, x), reference_logits(net, x, MADRY_MEAN, MADRY_STD), atol=1e-5)


def test_robustbench_sequential_layout(tmp_path, net, x):
    path = tmp_path / "Salman2020Do_R18.pt"
    sd = {
        "normalize.mean": torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
        "normalize.std": torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
    }
    sd.update({f"model.{k}": v for k, v in net.state_dict().items()})
    torch.save(sd, path)
    assert torch.allclose(logits(load_model(str(path)), x), reference_logits(net, x), atol=1e-5)


def test_arch_inference_and_override(tmp_path):
    path = tmp_path / "r34.pt"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    assert load_model(str(path)).arch == "resnet34"
    with pytest.raises(UsageError, match="does not fit resnet18"):
        load_model(str(path), arch="resnet18")
    with pytest.raises(UsageError, match="does not fit vgg16"):
        load_model(str(path), arch="vgg16")
    with pytest.raises(UsageError, match="unknown architecture 'resnet35'"):
        load_model(str(path), arch="resnet35")


def test_truncated_and_missing_checkpoints(tmp_path, net):
    path = tmp_path / "full.pt"
    torch.save(net.state_dict(), path)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UsageError, match="cannot read checkpoint"):
        load_model(str(cut))
    with pytest.raises(UsageError, match="not found"):
        load_model(str(tmp_path / "nope.pt"))


def test_torchvision_weights_offline_names_file_and_place(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNVIZ_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(UsageError) as err:
        load_model("torchvision:resnet18")
    message = str(err.value)
    assert "resnet18-f37072fd.pth" in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "\n" not in message


def test_torchvision_weights_from_hub_cache(tmp_path, monkeypatch, net, x):
    monkeypatch.setenv("RNNVIZ_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(net.state_dict(), tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    model = load_model("torchvision:resnet18")
    assert torch.allclose(logits(model, x), reference_logits(net, x), atol=1e-5)


def test_layer_names_are_module_paths():
    model = load_model("random:resnet18")
    assert check_layers(model.module, ["layer3", "layer3.1", "layer3.1.conv2"])
    with pytest.raises(UsageError, match="unknown layer 'layer9'; the defaults for this ResNet are maxpool, layer1.0"):
        check_layers(model.module, ["layer9"])
    assert model.default_layers[:3] == ["maxpool", "layer1.0", "layer1.1"]


def test_unrecognized_keys_ask_for_arch_in_one_line(tmp_path):
    path = tmp_path / "odd.pt"
    torch.save({"encoder.weight": torch.zeros(3, 3), "head.bias": torch.zeros(3)}, path)
    with pytest.raises(UsageError, match="cannot infer the architecture of odd.pt.*pass --arch") as err:
        load_model(str(path))
    assert "\n" not in str(err.value)


def test_resnext_is_told_from_resnet50_by_shapes(tmp_path):
    path = tmp_path / "rx.pt"
    torch.save(torchvision.models.resnext50_32x4d(weights=None).state_dict(), path)
    assert load_model(str(path)).arch == "resnext50_32x4d"


def test_fewer_classes_give_a_generic_label_set(tmp_path, x):
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v2(weights=None, num_classes=7).eval()
    path = tmp_path / "m7.pt"
    torch.save(net.state_dict(), path)
    model = load_model(str(path))
    assert model.arch == "mobilenet_v2" and len(model.labels) == 7
    assert torch.allclose(logits(model, x), reference_logits(net, x), atol=1e-5)
