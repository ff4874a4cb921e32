"""Model specs -> frozen ``nn.Module``s that take RGB NCHW in [0, 1].

Every model rnnviz holds normalizes inside, so attacks, epsilons and renders all
live in pixel units. Layer names stay the torchvision module paths (``layer3.1``)
because the normalization is a forward pre-hook on the network itself, not a
wrapper around it.

Spec kinds (``load_model``), for any architecture of ``rnnviz.models.architectures``:
  ``builtin:fashion-standard``   a shipped Fashion-MNIST net (``rnnviz.models.zoo``; also fashion-vgg-*)
  ``torchvision:vgg16_bn``       torchvision's ImageNet weights, via the torch hub cache
  ``random:densenet121``         seeded random init (plumbing tests, benchmarks); ``random:vit_b_16@64``
                                 builds a Vision Transformer for 64 px input
  ``/path/to/file.pt``           plain state_dict, MadryLab ``robustness`` checkpoint,
                                 RobustBench ``Sequential(normalize, model)`` state dict
                                 (``rnnviz.models.checkpoints``); ``--arch`` where keys do not tell
  ``https://.../file.ckpt``      downloaded once into the cache, then as a file
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision
from torch import nn

from rnnviz.common.errors import UsageError
from rnnviz.common.files import sha256_file
from rnnviz.common.names import shown_spec
from rnnviz.models import architectures
from rnnviz.models.checkpoints import (
    build_kwargs,
    infer_arch,
    infer_arch_kwargs,
    load_strict,
    split_checkpoint,
    state_dict_sha256,
    torch_load,
)
from rnnviz.models.input_size import check_input_size
from rnnviz.models.labels import LabelSet, fashion_labels, imagenet_labels

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ARCHES = architectures.arch_names()


@dataclass
class LoadedModel:
    """A ready model plus what the report must say about it."""

    module: nn.Module
    name: str
    arch: str
    sha256: str
    labels: LabelSet
    input_size: int = 224
    resize: int | None = 256
    grayscale: bool = False
    source: str = ""
    pickle_used: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def default_layers(self) -> list[str]:
        """The stem after its activation, then every block's or stage's output, in network order."""
        return architectures.default_layers(self.module)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "arch": self.arch,
            "sha256": self.sha256,
            "source": self.source,
            "pickle_used": self.pickle_used,
            "input_size": self.input_size,
            "labels": self.labels.name,
        }


class Normalize(nn.Module):
    """``(x - mean) / std`` with non-persistent buffers, so state_dicts stay torchvision's."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x):
        return (x - self.mean) / self.std


def _normalize_input(module, args):
    return (module.input_normalize(args[0]), *args[1:])


def add_input_normalization(net: nn.Module, mean, std) -> nn.Module:
    """Make ``net`` take [0, 1] pixels: normalization runs as a pre-hook of the root module."""
    net.input_normalize = Normalize(mean, std)
    net.register_forward_pre_hook(_normalize_input)
    return net


def freeze(net: nn.Module) -> nn.Module:
    """Eval mode and no weight gradients (attacks and renders only need input gradients), and
    channels_last weights: oneDNN's fast convolution layout on CPU (1.5x per forward here)."""
    net.eval()
    net.requires_grad_(False)
    return net.to(memory_format=torch.channels_last)


# --------------------------------------------------------------------------- specs


def load_model(
    spec: str, *, arch: str | None = None, trust_pickle: bool = False, name: str | None = None, device: str = "cpu"
) -> LoadedModel:
    """Turn a model spec string into a frozen ``LoadedModel`` on ``device``."""
    kind, _, rest = spec.partition(":")
    if kind == "builtin":
        model = _load_builtin(rest)
    elif kind == "torchvision":
        model = _load_torchvision(rest)
    elif kind == "random":
        model = _load_random(rest)
    elif kind in ("http", "https"):
        model = _load_url(spec, arch, trust_pickle)
    else:
        model = load_checkpoint(Path(spec), arch=arch, trust_pickle=trust_pickle)
    model.source = shown_spec(spec) or ""  # no path of this machine in results.json
    model.name = name or model.name
    model.module.to(device)
    return model


def _load_builtin(name: str) -> LoadedModel:
    from rnnviz.models import zoo

    if name not in zoo.BUILTIN_SHA256:
        raise UsageError(f"unknown built-in model '{name}'; choose one of: {', '.join(zoo.BUILTIN_SHA256)}")
    path = zoo.builtin_weights_path(name)
    net_class, arch = zoo.BUILTIN_NETS[name]
    net = net_class()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return LoadedModel(
        freeze(net),
        name=name,
        arch=arch,
        sha256=sha256_file(path),
        labels=fashion_labels(),
        input_size=28,
        resize=None,
        grayscale=True,
    )


def _imagenet_model(
    arch: str, state: dict | None, mean=IMAGENET_MEAN, std=IMAGENET_STD, *, what: str, **kwargs
) -> nn.Module:
    net = architectures.build(arch, **kwargs)
    if state is not None:
        load_strict(net, state, arch=arch, what=what)
    return freeze(add_input_normalization(net, mean, std))


def _sizes(size: int) -> dict:
    """Input size and the resize before the centre crop (ImageNet's 256 -> 224 ratio)."""
    return {"input_size": size, "resize": round(size * 256 / 224)}


def _load_random(arch: str, seed: int = 0) -> LoadedModel:
    arch, _, size = arch.partition("@")
    if size and not size.isdigit():
        raise UsageError(f"bad input size '@{size}' in random:{arch}@{size}; give pixels, e.g. random:vit_b_16@64")
    arch = architectures.check_arch(arch)
    vit = architectures.family_of(arch) == "vit"
    if size and arch not in architectures.FASHION_ARCHES:
        check_input_size(arch, int(size), lambda s: architectures.build(arch, **({"image_size": s} if vit else {})))
    kwargs = {"image_size": int(size)} if size and vit else {}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if arch in architectures.FASHION_ARCHES:
            net = freeze(architectures.build(arch))
        else:
            net = _imagenet_model(arch, None, what=arch, **kwargs)
    model = LoadedModel(
        net,
        name=f"{arch} (random init)",
        arch=arch,
        sha256=state_dict_sha256(net.state_dict()),
        labels=imagenet_labels(),
        **_sizes(int(size) if size else architectures.input_size(arch)),
    )
    if arch in architectures.FASHION_ARCHES:
        model.labels, model.input_size, model.resize, model.grayscale = fashion_labels(), 28, None, True
    return model


PREPROCESSING_BUFFERS = ("pixel_mean", "pixel_std")  # a built-in net's input scaling: constants, not learned


def random_copy(model: LoadedModel, seed: int, device: str = "cpu") -> nn.Module:
    """``model``'s architecture (the build arguments its weights imply) freshly initialized under
    ``torch.manual_seed(seed)``, with ``model``'s own input preprocessing: what a similarity score
    against this architecture gives with no training at all, the baseline a CKA is read against.
    Built on the CPU, so every device and torchrun rank gets the same weights."""
    state = model.module.state_dict()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = architectures.build(model.arch, **build_kwargs(model.arch, state))
    with torch.no_grad():
        for name, buffer in net.named_buffers():
            if name in PREPROCESSING_BUFFERS and name in state:
                buffer.copy_(state[name])
    own = getattr(model.module, "input_normalize", None)
    if own is not None:
        add_input_normalization(net, own.mean.flatten().cpu(), own.std.flatten().cpu())
    return freeze(net).to(device)


def copy_signature(model: LoadedModel) -> tuple:
    """What ``random_copy`` builds from (architecture, shapes, input preprocessing): two models with
    equal signatures get the same copy for the same seed, so one copy can serve both."""
    state = model.module.state_dict()
    own = getattr(model.module, "input_normalize", None)
    return (
        model.arch,
        tuple((k, tuple(v.shape)) for k, v in state.items()),
        tuple(tuple(state[k].flatten().tolist()) for k in PREPROCESSING_BUFFERS if k in state),
        None if own is None else (tuple(own.mean.flatten().tolist()), tuple(own.std.flatten().tolist())),
    )


def _load_torchvision(arch: str) -> LoadedModel:
    arch = architectures.check_arch(arch)
    if arch not in architectures.TORCHVISION_ARCHES:
        raise UsageError(f"torchvision publishes no weights for '{arch}'; use a checkpoint file with --arch {arch}")
    weights = torchvision.models.get_model_weights(arch).DEFAULT
    file_name = weights.url.rsplit("/", 1)[-1]
    path = Path(torch.hub.get_dir()) / "checkpoints" / file_name
    if not path.exists():
        from rnnviz.models.download import fetch

        path = fetch(weights.url, None, file_name, what=f"torchvision {arch} weights", dest_dir=path.parent)
    state = split_checkpoint(torch.load(path, map_location="cpu", weights_only=True), path)[0]
    preprocess = getattr(weights.transforms, "keywords", {})
    crop = preprocess.get("crop_size", 224)
    net = _imagenet_model(arch, state, what=str(path), **build_kwargs(arch, state))
    resize = preprocess.get("resize_size", round(crop * 256 / 224))
    return LoadedModel(
        net,
        name=f"torchvision {arch} ({weights.name})",
        arch=arch,
        sha256=sha256_file(path),
        labels=imagenet_labels(),
        input_size=crop,
        resize=resize,
    )


def _load_url(spec: str, arch: str | None, trust_pickle: bool) -> LoadedModel:
    from rnnviz.models.download import fetch_checkpoint

    return load_checkpoint(fetch_checkpoint(spec), arch=arch, trust_pickle=trust_pickle)


# --------------------------------------------------------------------- checkpoints


def load_checkpoint(path: Path, *, arch: str | None = None, trust_pickle: bool = False) -> LoadedModel:
    """Load any of the supported checkpoint layouts, safely unless the user trusts the pickle."""
    if not path.is_file():
        raise UsageError(f"checkpoint not found: {path}; check the path given to --standard/--robust")
    raw, pickle_used = torch_load(path, trust_pickle)
    state, mean, std = split_checkpoint(raw, path)
    if arch:
        arch, kwargs = architectures.check_arch(arch), build_kwargs(arch, state)
    else:
        arch, kwargs = infer_arch_kwargs(state, path)
    n_classes = kwargs.get("num_classes", 1000)
    if arch in architectures.FASHION_ARCHES:
        net = architectures.build(arch, n_classes)
        load_strict(net, state, arch=arch, what=str(path))
        return LoadedModel(
            freeze(net),
            name=path.stem,
            arch=arch,
            sha256=sha256_file(path),
            labels=_labels_for(n_classes, path),
            input_size=28,
            resize=None,
            grayscale=True,
            pickle_used=pickle_used,
        )
    net = _imagenet_model(arch, state, mean or IMAGENET_MEAN, std or IMAGENET_STD, what=str(path), **kwargs)
    model = LoadedModel(
        net,
        name=path.stem,
        arch=arch,
        sha256=sha256_file(path),
        labels=_labels_for(n_classes, path),
        pickle_used=pickle_used,
        **_sizes(architectures.input_size(arch, kwargs)),
    )
    if mean is None:
        model.notes.append("no normalization in checkpoint: assumed ImageNet mean/std")
    return model


def _labels_for(n_classes: int, path: Path) -> LabelSet:
    if n_classes == 1000:
        return imagenet_labels()
    if n_classes == 10:
        return fashion_labels()
    return LabelSet(name=f"{n_classes}-class", names=tuple(f"class {i}" for i in range(n_classes)))


__all__ = [
    "ARCHES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LoadedModel",
    "Normalize",
    "add_input_normalization",
    "freeze",
    "infer_arch",
    "load_checkpoint",
    "load_model",
    "copy_signature",
    "random_copy",
    "split_checkpoint",
    "state_dict_sha256",
]
