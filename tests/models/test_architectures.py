"""Other architectures: default layers, hooks, sensitivity and renders for each torchvision family,
architecture inference from keys, and the three checkpoint layouts for several families."""

from __future__ import annotations

import pytest
import torch
import torchvision

from rnnviz.channels import featvis
from rnnviz.common.errors import UsageError
from rnnviz.models import architectures
from rnnviz.models.checkpoints import split_checkpoint
from rnnviz.models.loading import IMAGENET_MEAN, IMAGENET_STD, load_model
from rnnviz.sweep.hooks import LayerHooks, StackedChannels, check_layers
from rnnviz.sweep.sensitivity import SensitivityMeter

SIZE = 32
# spec -> raw output layout of its layers, as the family's own code lays it out
FAMILIES = {
    "random:resnet18": "NCHW",
    "random:vgg11_bn": "NCHW",
    "random:densenet121": "NCHW",
    "random:mobilenet_v2": "NCHW",
    "random:mobilenet_v3_small": "NCHW",
    "random:mnasnet0_5": "NCHW",
    "random:shufflenet_v2_x0_5": "NCHW",
    "random:regnet_x_400mf": "NCHW",
    "random:efficientnet_b0": "NCHW",
    "random:squeezenet1_1": "NCHW",
    "random:convnext_tiny": "NCHW",
    "random:swin_t": "NHWC",
    f"random:vit_b_16@{SIZE}": "NTD",
}


@pytest.fixture(scope="module")
def pair():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, SIZE, SIZE, generator=g)
    return x, (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)


def raw_output(module, layer, x):
    """The layer's output as the network produces it (a plain hook, no rnnviz code)."""
    out = {}

    def hook(_module, _inputs, output):  # returns None: the network goes on with its own output
        out.setdefault("y", output.clone())

    handle = module.get_submodule(layer).register_forward_hook(hook)
    try:
        with torch.no_grad():
            module(x)
    finally:
        handle.remove()
    return out["y"]


def hand_sigma(a, b, layout):
    """Mean over images of the per-channel mean |F(x) - F(x')| over positions (or tokens)."""
    diff = (a - b).abs().double()
    dims = {"NCHW": (2, 3), "NHWC": (1, 2), "NTD": (1,)}[layout]
    return diff.mean(dims).mean(0)


@pytest.mark.parametrize("spec", FAMILIES)
def test_family_layers_hooks_sensitivity_and_render(spec, pair, offline, monkeypatch):
    x, x_adv = pair
    model = load_model(spec)
    layers = model.default_layers
    assert len(layers) >= 3 and check_layers(model.module, layers) == layers
    with LayerHooks(model.module, layers) as hooks:
        clean, adv = hooks.run(x), hooks.run(x_adv)
    assert set(clean) == set(layers)
    assert all(t.dim() >= 3 and t.shape[0] == 2 for t in clean.values())
    layer = layers[-1]
    raw = raw_output(model.module, layer, x), raw_output(model.module, layer, x_adv)
    channels = raw[0].shape[{"NCHW": 1, "NHWC": -1, "NTD": -1}[FAMILIES[spec]]]
    assert clean[layer].shape[1] == channels
    meter = SensitivityMeter(layers)
    meter.add(clean, adv)
    expected = hand_sigma(*raw, FAMILIES[spec])
    assert torch.allclose(meter.channels()[layer], expected, rtol=1e-4, atol=1e-6)

    # the last channel: for a ViT an index past the token count, so the objective must see (N, D, T)
    recipe = "raw" if FAMILIES[spec] == "NTD" else "lucid"  # see test_vit_lucid_render below
    renders = render(model, layer, channels - 1, recipe, monkeypatch)
    assert renders[0].png.is_file() and renders[0].channel == channels - 1


def render(model, layer, channel, recipe, monkeypatch):
    monkeypatch.setitem(featvis.QUALITY, "draft", featvis.Quality(steps=2, min_size=SIZE, max_size=SIZE))
    facts = featvis.ModelFacts(model.sha256, SIZE)
    return featvis.render_channels(
        model.module, [(layer, channel)], facts, featvis.RenderRequest(recipe=recipe, quality="draft"), progress=None
    )


def test_vit_lucid_render(offline, monkeypatch):
    """Lucid's transforms pad the image (32 -> 38 px); a ViT takes only its own size, so the view is
    resized back to it."""
    model = load_model(f"random:vit_b_16@{SIZE}")
    assert render(model, "encoder.layers.encoder_layer_11", 700, "lucid", monkeypatch)[0].png.is_file()


def test_conv_outputs_are_recorded_untouched(pair):
    model = load_model("random:resnet18")
    x = pair[0]
    with LayerHooks(model.module, ["layer2.0"]) as hooks:
        recorded = hooks.run(x)["layer2.0"]
    assert torch.equal(recorded, raw_output(model.module, "layer2.0", x))


def test_token_layer_patching_replaces_embedding_dims(pair):
    model = load_model(f"random:vit_b_16@{SIZE}")
    x, x_adv = pair
    layer = "encoder.layers.encoder_layer_3"
    with LayerHooks(model.module, [layer]) as hooks:
        clean = hooks.run(x)[layer]
        channels = torch.arange(model.module.hidden_dim)
        with hooks.replacing({layer: StackedChannels.of(clean, [channels.tolist()])}):
            patched = hooks.run(x_adv)[layer]
    assert torch.allclose(patched, clean)


@pytest.mark.parametrize(
    "arch",
    [
        "resnet50",
        "resnext50_32x4d",
        "wide_resnet50_2",
        "wide_resnet50_4",
        "vgg16_bn",
        "vgg16",
        "densenet161",
        "mobilenet_v2",
        "mobilenet_v3_large",
        "mnasnet1_0",
        "shufflenet_v2_x1_0",
        "regnet_y_400mf",
        "efficientnet_b0",
        "convnext_tiny",
        "swin_t",
        "vit_b_16",
        "alexnet",
        "squeezenet1_0",
        "googlenet",
    ],
)
def test_arch_is_inferred_from_keys_and_shapes(arch):
    state = dict(architectures.skeleton(arch).state_dict())  # shapes only: no memory, no init
    assert architectures.infer(state)[0] == arch


def test_vit_image_size_is_read_from_its_position_embedding():
    net = architectures.skeleton("vit_b_16", num_classes=10, image_size=64)
    assert architectures.infer(net.state_dict()) == ("vit_b_16", {"num_classes": 10, "image_size": 64})


def layouts(net):
    """The same weights as a plain state_dict, a MadryLab checkpoint and a RobustBench state dict."""
    sd = net.state_dict()
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    madry = {
        "module.normalizer.new_mean": mean.view(3, 1, 1),
        "module.normalizer.new_std": std.view(3, 1, 1),
        "module.attacker.normalizer.new_mean": mean.view(3, 1, 1),
        "module.attacker.normalizer.new_std": std.view(3, 1, 1),
    }
    madry.update({f"module.model.{k}": v for k, v in sd.items()})
    madry.update({f"module.attacker.model.{k}": v for k, v in sd.items()})
    bench = {"normalize.mean": mean.view(1, 3, 1, 1), "normalize.std": std.view(1, 3, 1, 1)}
    bench.update({f"model.{k}": v for k, v in sd.items()})
    return {"plain": sd, "madrylab": {"model": madry, "epoch": 89}, "robustbench": bench}


@pytest.mark.parametrize(
    "arch",
    [
        "mobilenet_v2",
        "shufflenet_v2_x0_5",
        "mnasnet0_5",
        "densenet121",
        "regnet_x_400mf",
        "efficientnet_b0",
        "squeezenet1_1",
    ],
)
def test_checkpoint_layouts_round_trip_to_identical_logits(arch, tmp_path, pair):
    torch.manual_seed(1)
    net = architectures.build(arch).eval()
    x = pair[0]
    with torch.no_grad():
        want = net((x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
    for name, content in layouts(net).items():
        path = tmp_path / f"{arch}-{name}.pt"
        torch.save(content, path)
        model = load_model(str(path))
        assert model.arch == arch, name
        with torch.no_grad():
            assert torch.allclose(model.module(x), want, atol=1e-5), name


def test_old_densenet_key_names_are_accepted(tmp_path):
    sd = torchvision.models.densenet121(weights=None).state_dict()
    old = {k.replace("norm1.", "norm.1.").replace("conv2.", "conv.2."): v for k, v in sd.items()}
    state, _, _ = split_checkpoint(old, tmp_path / "old.pth")
    assert set(state) == set(sd)


def test_unknown_layer_names_family_defaults_for_any_model():
    model = load_model("random:mobilenet_v2")
    with pytest.raises(
        UsageError,
        match=r"unknown layer 'blocks.3'; the defaults for this MobileNetV2 are "
        r"features.0, features.1, features.3.*valid names include",
    ):
        check_layers(model.module, ["blocks.3"])


def test_unknown_arch_and_random_size_are_one_line_errors():
    with pytest.raises(UsageError, match="unknown architecture 'resnet35'"):
        load_model("random:resnet35")
    with pytest.raises(UsageError, match="bad input size"):
        load_model("random:vit_b_16@big")


CLI_FAMILIES = [
    "resnet18",
    "vgg11_bn",
    "densenet121",
    "mobilenet_v2",
    "mnasnet0_5",
    "shufflenet_v2_x0_5",
    "regnet_x_400mf",
    "efficientnet_b0",
    "squeezenet1_1",
    "convnext_tiny",
    "swin_t",
    "vit_b_16",
]


@pytest.mark.slow
@pytest.mark.parametrize("arch", CLI_FAMILIES)
def test_the_whole_cli_runs_for_each_family(arch, offline, monkeypatch, capsys):
    """rnnviz-report end to end (attack, sensitivity, trust, patching, draft renders, HTML) on real
    photos for twelve families at 32 px with random weights."""
    import json

    from test_imagenet import foolbox_images

    from rnnviz.cli import main

    monkeypatch.setitem(featvis.QUALITY, "draft", featvis.Quality(steps=2, min_size=SIZE, max_size=SIZE))
    spec = f"random:{arch}@{SIZE}"
    recipes = "raw" if arch.startswith("vit") else "lucid"  # see test_vit_lucid_render
    argv = ["--standard", spec, "--robust", spec, "--data", str(foolbox_images(offline / "photos")),
            "--classes", "jeep", "--eps", "0,0.01", "--n-images", "2", "--top-k", "2", "--bootstrap", "10",
            "--patch", "1", "--patch-share", "1", "--quality", "draft", "--recipes", recipes,
            "--no-pdf", "--quiet", "--out", "r"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    results = json.loads((offline / "r" / "results.json").read_text())
    assert results["config"]["layers"] and results["renders"] and results["ranking"]["standard"][1]["top"]
    assert (offline / "r" / "report.html").is_file()
