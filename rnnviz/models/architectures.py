"""Architecture families: how to build a network by name, which layers a reader compares, how its
layer outputs are laid out, and how to recognize it from a state_dict's keys.

Every torchvision image classifier works by name (``torchvision.models.list_models``), plus
``wide_resnet50_4`` (MadryLab's, not in torchvision) and the built-in Fashion-MNIST nets.
Default layers are the outputs a reader would compare across models (DESIGN.md): the stem after
its activation where it is a module, then each block's or stage's output.

Layouts: conv outputs are (N, C, H, W) and stay as they are. A Vision Transformer's encoder
outputs tokens (N, T, D) and a Swin stage (N, H, W, C); for them a "channel" is an embedding
dimension, and ``channel_first`` turns the output into (N, D, T) / (N, C, H, W), so the spatial
mean of a channel is its mean over tokens (the class token included) or positions.
"""

from __future__ import annotations

import functools
import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torchvision import models as tvm

from rnnviz.common.errors import UsageError

EXTRA_ARCHES = ("wide_resnet50_4",)
TORCHVISION_ARCHES = tuple(sorted(tvm.list_models(module=tvm)))


@dataclass(frozen=True)
class Family:
    name: str
    prefixes: tuple[str, ...]  # torchvision builder names that belong to it
    markers: tuple[str, ...]  # state_dict keys every member has


FAMILIES = (
    Family("resnet", ("resnet", "resnext", "wide_resnet"), ("conv1.weight", "layer1.0.conv1.weight", "fc.weight")),
    Family("vgg", ("vgg",), ("features.0.weight", "classifier.0.weight", "classifier.3.weight")),
    Family("alexnet", ("alexnet",), ("features.0.weight", "classifier.1.weight", "classifier.4.weight")),
    Family("squeezenet", ("squeezenet",), ("features.0.weight", "features.3.squeeze.weight")),
    Family("densenet", ("densenet",), ("features.conv0.weight", "features.denseblock1.denselayer1.conv1.weight")),
    Family("mobilenet", ("mobilenet",), ("features.0.0.weight", "features.1.block.0.0.weight")),
    Family("mobilenet_v2", ("mobilenet_v2",), ("features.0.0.weight", "features.1.conv.0.0.weight")),
    Family("efficientnet", ("efficientnet",), ("features.0.0.weight", "features.1.0.block.0.0.weight")),
    Family("mnasnet", ("mnasnet",), ("layers.0.weight", "layers.8.0.layers.0.weight")),
    Family("shufflenet", ("shufflenet",), ("conv1.0.weight", "stage2.0.branch2.0.weight")),
    Family("regnet", ("regnet",), ("stem.0.weight", "trunk_output.block1.block1-0.f.a.0.weight")),
    Family("convnext", ("convnext",), ("features.0.0.weight", "features.1.0.layer_scale")),
    Family("swin", ("swin",), ("features.0.0.weight", "features.1.0.norm1.weight")),
    Family("vit", ("vit",), ("conv_proj.weight", "encoder.pos_embedding")),
    Family("googlenet", ("googlenet",), ("conv1.conv.weight", "inception3a.branch1.conv.weight")),
    Family("inception", ("inception",), ("Conv2d_1a_3x3.conv.weight",)),
    Family("maxvit", ("maxvit",), ("stem.0.0.weight", "blocks.0.layers.0.layers.MBconv.layers.pre_norm.weight")),
)
FASHION_ARCHES = ("fashion_resnet", "fashion_vgg")


def arch_names() -> tuple[str, ...]:
    return (*TORCHVISION_ARCHES, *EXTRA_ARCHES, *FASHION_ARCHES)


def family_of(arch: str) -> str:
    if arch in FASHION_ARCHES:
        return arch
    if arch.startswith("mobilenet_v2"):
        return "mobilenet_v2"
    return next((f.name for f in FAMILIES if arch.startswith(f.prefixes)), "other")


def check_arch(arch: str) -> str:
    if arch not in arch_names():
        raise UsageError(
            f"unknown architecture '{arch}'; use a torchvision classifier name "
            f"(e.g. resnet50, vgg16_bn, densenet161, mobilenet_v2, vit_b_16) or one of: "
            f"{', '.join((*EXTRA_ARCHES, *FASHION_ARCHES))}"
        )
    return arch


def build(arch: str, num_classes: int = 1000, image_size: int | None = None) -> nn.Module:
    """A randomly initialized network; ``image_size`` only matters for Vision Transformers."""
    check_arch(arch)
    if arch in FASHION_ARCHES:
        from rnnviz.models.zoo import FashionResNet, FashionVGG

        return (FashionResNet if arch == "fashion_resnet" else FashionVGG)(num_classes=num_classes)
    if arch == "wide_resnet50_4":
        return tvm.ResNet(tvm.resnet.Bottleneck, [3, 4, 6, 3], width_per_group=64 * 4, num_classes=num_classes)
    kwargs = {"image_size": image_size} if image_size and family_of(arch) == "vit" else {}
    return tvm.get_model(arch, weights=None, num_classes=num_classes, **kwargs)


# ------------------------------------------------------------------ default layers


def default_layers(net: nn.Module) -> list[str]:
    """The outputs a reader compares, in network order, for any supported network."""
    from rnnviz.models.zoo import FashionResNet, FashionVGG

    kind = type(net)
    if kind is FashionResNet:
        return ["relu", *_blocks(net, [f"layer{i}" for i in range(1, 5)])]
    if kind is FashionVGG:
        return [n for n, _ in net.named_children() if n.startswith("stage")]
    for family in (_convolutional_layers, _staged_layers):
        known = family(net)
        if known is not None:
            return known
    skip = (nn.Linear, nn.Dropout, nn.Identity, nn.AdaptiveAvgPool2d, nn.MaxPool2d, nn.AvgPool2d)
    return [
        n
        for n, m in net.named_children()
        if not isinstance(m, skip)
        and n not in ("input_normalize", "classifier", "fc", "heads", "head", "aux1", "aux2", "AuxLogits")
    ]


def _convolutional_layers(net: nn.Module) -> list[str] | None:
    """``default_layers`` of torchvision's convolutional families before RegNet; None for others."""
    if isinstance(net, tvm.ResNet):
        return ["maxpool", *_blocks(net, [f"layer{i}" for i in range(1, 5)])]
    if isinstance(net, (tvm.VGG, tvm.AlexNet)):
        return [f"features.{i - 1}" for i, m in enumerate(net.features) if isinstance(m, nn.MaxPool2d)]
    if isinstance(net, tvm.SqueezeNet):
        return ["features.1", *(f"features.{i}" for i, m in enumerate(net.features) if type(m).__name__ == "Fire")]
    if isinstance(net, tvm.DenseNet):
        trans = [f"features.{n}.relu" for n, _ in net.features.named_children() if n.startswith("transition")]
        return ["features.relu0", *trans, "features.norm5"]  # the last ReLU is functional
    if isinstance(net, (tvm.MobileNetV2, tvm.MobileNetV3)):
        return ["features.0", *_last_of_each_width(net.features, "features", start=1)]
    if isinstance(net, tvm.MNASNet):
        return ["layers.2", *(f"layers.{i}" for i in range(8, 14)), "layers.16"]
    if isinstance(net, tvm.ShuffleNetV2):
        return ["conv1", "stage2", "stage3", "stage4", "conv5"]
    return None


def _staged_layers(net: nn.Module) -> list[str] | None:
    """``default_layers`` of torchvision's staged families (RegNet to ViT); None for others."""
    if isinstance(net, tvm.RegNet):
        return ["stem", *(f"trunk_output.{n}" for n, _ in net.trunk_output.named_children())]
    if isinstance(net, tvm.EfficientNet):
        return [f"features.{i}" for i in range(len(net.features))]
    if isinstance(net, (tvm.ConvNeXt, tvm.SwinTransformer)):  # stages; even entries downsample
        return [f"features.{i}" for i in range(1, len(net.features), 2)]
    if isinstance(net, tvm.VisionTransformer):
        return [f"encoder.layers.{n}" for n, _ in net.encoder.layers.named_children()]
    return None


def _blocks(net: nn.Module, stages: list[str]) -> list[str]:
    return [f"{s}.{i}" for s in stages for i in range(len(list(net.get_submodule(s).children())))]


def _last_of_each_width(seq: nn.Sequential, prefix: str, start: int = 0) -> list[str]:
    """The last block of each run of blocks with the same output width (a stage)."""
    widths = [[m.out_channels for m in block.modules() if isinstance(m, nn.Conv2d)][-1] for block in seq]
    return [
        f"{prefix}.{i}" for i, w in enumerate(widths) if i >= start and (i + 1 == len(widths) or widths[i + 1] != w)
    ]


# -------------------------------------------------------------------------- layouts


def layout(model: nn.Module, name: str) -> str:
    """``"NCHW"`` (channel first, conv-like), ``"NTD"`` (ViT tokens) or ``"NHWC"`` (Swin)."""
    if isinstance(model, tvm.VisionTransformer) and name.split(".")[0] == "encoder":
        return "NTD"
    if (
        isinstance(model, tvm.SwinTransformer)
        and name.split(".")[0] in ("features", "norm")
        and not isinstance(model.get_submodule(name), nn.Conv2d)
    ):
        return "NHWC"
    parts = name.split(".")
    if isinstance(model, tvm.ConvNeXt) and "block" in parts:  # inside a CNBlock, between its permutes
        k = parts.index("block")
        if k + 1 < len(parts) and 2 <= int(parts[k + 1]) <= 4:
            return "NHWC"
    return "NCHW"


def channel_first(output: torch.Tensor, layout_: str) -> torch.Tensor:
    """A view of ``output`` with the channel (embedding) dimension second."""
    if layout_ == "NTD":
        return output.transpose(1, 2)
    if layout_ == "NHWC":
        return output.movedim(-1, 1)
    return output


# ---------------------------------------------------------------- inference by keys


def infer(state: dict) -> tuple[str, dict] | None:
    """The architecture whose state_dict keys and shapes ``state`` has, and its build kwargs.

    Candidates come from family marker keys; each is compared as an empty (meta) network, so a
    name is never trusted: resnet50 and resnext50_32x4d differ only in their shapes.
    """
    keys = set(state)
    candidates: tuple[str, ...] | list[str]
    if "pixel_mean" in keys:
        candidates = FASHION_ARCHES
    else:
        families = {f.name for f in FAMILIES if all(m in keys for m in f.markers)}
        candidates = [a for a in (*TORCHVISION_ARCHES, *EXTRA_ARCHES) if family_of(a) in families]
    for arch in candidates:
        kwargs = build_kwargs(arch, state)
        sig = signature(arch, **kwargs)
        if sig is None or set(sig) != keys:
            continue
        head = _head_keys(arch)
        if all(tuple(state[k].shape) == shape for k, shape in sig.items() if k not in head):
            return arch, kwargs
    return None


def build_kwargs(arch: str, state: dict) -> dict:
    kwargs = {}
    head_weight = state.get(next(iter(_head_keys(arch)), ""), None)
    if head_weight is not None:
        kwargs["num_classes"] = head_weight.shape[0]
    if family_of(arch) == "vit" and "encoder.pos_embedding" in state and "conv_proj.weight" in state:
        patch = state["conv_proj.weight"].shape[-1]
        kwargs["image_size"] = int(math.isqrt(state["encoder.pos_embedding"].shape[1] - 1)) * patch
    return kwargs


@functools.cache
def signature(arch: str, num_classes: int = 1000, image_size: int | None = None) -> dict | None:
    """``{key: shape}`` of the arch's state_dict, built without memory or initialization."""
    try:
        net = skeleton(arch, num_classes, image_size)
    except Exception:  # noqa: BLE001 - an arch that cannot be built this way is simply no match
        return None
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


@functools.cache
def _head_keys(arch: str) -> frozenset:
    """The classifier's weight and bias keys (the last Linear or Conv2d): their shape depends on
    the number of classes, so it is read from the checkpoint, not compared."""
    net = skeleton(arch, 1000, None)
    last = [n for n, m in net.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))][-1]
    return frozenset((f"{last}.weight", f"{last}.bias"))


def skeleton(arch: str, num_classes: int = 1000, image_size: int | None = None) -> nn.Module:
    """The network without memory (meta tensors) or, where that cannot be built, without initialization."""
    try:
        with torch.device("meta"):
            return build(arch, num_classes, image_size)
    except NotImplementedError:  # regnet computes its widths with tensors: build on CPU, no init
        with _no_init():
            return build(arch, num_classes, image_size)


@contextmanager
def _no_init():
    names = [n for n in dir(nn.init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(nn.init, n) for n in names}
    try:
        for n in names:
            setattr(nn.init, n, lambda t, *a, **k: t)
        yield
    finally:
        for n, f in saved.items():
            setattr(nn.init, n, f)


def input_size(arch: str, kwargs: dict | None = None) -> int:
    """The input size the network expects (fixed for ViT, 224 otherwise)."""
    if kwargs and kwargs.get("image_size"):
        return int(kwargs["image_size"])
    return 28 if arch in FASHION_ARCHES else 224


__all__ = [
    "FAMILIES",
    "arch_names",
    "build",
    "channel_first",
    "check_arch",
    "default_layers",
    "family_of",
    "infer",
    "input_size",
    "layout",
    "signature",
    "skeleton",
]
