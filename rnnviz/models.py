"""Model specs -> frozen ``nn.Module``s that take RGB NCHW in [0, 1].

Every model rnnviz holds normalizes inside, so attacks, epsilons and renders all
live in pixel units. Layer names stay the torchvision module paths (``layer3.1``)
because the normalization is a forward pre-hook on the network itself, not a
wrapper around it.

Spec kinds (``load_model``):
  ``builtin:fashion-standard``   the shipped Fashion-MNIST pair (``rnnviz.zoo``)
  ``torchvision:resnet34``       torchvision's ImageNet weights, via the torch hub cache
  ``random:resnet18``            seeded random init (plumbing tests, benchmarks)
  ``/path/to/file.pt``           plain state_dict, MadryLab ``robustness`` checkpoint,
                                 RobustBench ``Sequential(normalize, model)`` state dict
  ``https://.../file.ckpt``      downloaded once into the cache, then as a file
"""
from __future__ import annotations

import hashlib
import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision
from torch import nn

from .cache import sha256_file
from .errors import UsageError
from .labels import LabelSet, fashion_labels, imagenet_labels

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESNET_BLOCKS = {  # arch -> (blocks per stage, bottleneck?, width_per_group)
    "resnet18": ((2, 2, 2, 2), False, 64),
    "resnet34": ((3, 4, 6, 3), False, 64),
    "resnet50": ((3, 4, 6, 3), True, 64),
    "resnet101": ((3, 4, 23, 3), True, 64),
    "resnet152": ((3, 8, 36, 3), True, 64),
    "wide_resnet50_2": ((3, 4, 6, 3), True, 128),
    "wide_resnet101_2": ((3, 4, 23, 3), True, 128),
}
ARCHES = (*RESNET_BLOCKS, "fashion_resnet")


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
        """The stem and every residual block output, in network order."""
        names = ["conv1"]
        for stage in ("layer1", "layer2", "layer3", "layer4"):
            blocks = self.module.get_submodule(stage)
            names += [f"{stage}.{i}" for i in range(len(blocks))]
        return names

    def describe(self) -> dict:
        return {"name": self.name, "arch": self.arch, "sha256": self.sha256, "source": self.source,
                "pickle_used": self.pickle_used, "input_size": self.input_size,
                "labels": self.labels.name}


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


def state_dict_sha256(state: dict) -> str:
    """Content hash of a state_dict (names, shapes, bytes) for models with no file behind them."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- specs

def load_model(spec: str, *, arch: str | None = None, trust_pickle: bool = False,
               name: str | None = None, device: str = "cpu") -> LoadedModel:
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
    model.source = spec
    model.name = name or model.name
    model.module.to(device)
    return model


def _load_builtin(name: str) -> LoadedModel:
    from . import zoo

    if name not in zoo.BUILTIN_SHA256:
        raise UsageError(f"unknown built-in model '{name}'; choose one of: {', '.join(zoo.BUILTIN_SHA256)}")
    path = zoo.builtin_weights_path(name)
    net = zoo.FashionResNet()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return LoadedModel(freeze(net), name=name, arch="fashion_resnet", sha256=sha256_file(path),
                       labels=fashion_labels(), input_size=28, resize=None, grayscale=True)


def _check_arch(arch: str) -> str:
    if arch not in RESNET_BLOCKS:
        raise UsageError(f"unknown architecture '{arch}'; choose one of: {', '.join(ARCHES)}")
    return arch


def _imagenet_model(arch: str, state: dict | None, mean=IMAGENET_MEAN, std=IMAGENET_STD, *,
                    what: str) -> nn.Module:
    net = torchvision.models.get_model(arch, weights=None)
    if state is not None:
        _load_strict(net, state, arch=arch, what=what)
    return freeze(add_input_normalization(net, mean, std))


def _load_random(arch: str, seed: int = 0) -> LoadedModel:
    arch = _check_arch(arch)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = _imagenet_model(arch, None, what=arch)
    return LoadedModel(net, name=f"{arch} (random init)", arch=arch,
                       sha256=state_dict_sha256(net.state_dict()), labels=imagenet_labels())


def _load_torchvision(arch: str) -> LoadedModel:
    arch = _check_arch(arch)
    weights = torchvision.models.get_model_weights(arch).DEFAULT
    file_name = weights.url.rsplit("/", 1)[-1]
    path = Path(torch.hub.get_dir()) / "checkpoints" / file_name
    if not path.exists():
        from .download import fetch

        path = fetch(weights.url, None, file_name, what=f"torchvision {arch} weights", dest_dir=path.parent)
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = _imagenet_model(arch, state, what=str(path))
    return LoadedModel(net, name=f"torchvision {arch} ({weights.name})", arch=arch,
                       sha256=sha256_file(path), labels=imagenet_labels())


def _load_url(spec: str, arch: str | None, trust_pickle: bool) -> LoadedModel:
    from .download import fetch_checkpoint

    return load_checkpoint(fetch_checkpoint(spec), arch=arch, trust_pickle=trust_pickle)


# --------------------------------------------------------------------- checkpoints

def load_checkpoint(path: Path, *, arch: str | None = None, trust_pickle: bool = False) -> LoadedModel:
    """Load any of the supported checkpoint layouts, safely unless the user trusts the pickle."""
    if not path.is_file():
        raise UsageError(f"checkpoint not found: {path}; check the path given to --standard/--robust")
    raw, pickle_used = _torch_load(path, trust_pickle)
    state, mean, std = split_checkpoint(raw, path)
    if arch == "fashion_resnet" or (arch is None and _looks_like_fashion(state)):
        return _fashion_from_state(state, path, pickle_used)
    arch = _check_arch(arch) if arch else infer_arch(state, path)
    net = _imagenet_model(arch, state, mean or IMAGENET_MEAN, std or IMAGENET_STD, what=str(path))
    n_classes = state["fc.weight"].shape[0]
    model = LoadedModel(net, name=path.stem, arch=arch, sha256=sha256_file(path),
                        labels=_labels_for(n_classes, path), pickle_used=pickle_used)
    if mean is None:
        model.notes.append("no normalization in checkpoint: assumed ImageNet mean/std")
    return model


def _torch_load(path: Path, trust_pickle: bool):
    """``weights_only=True`` always; a full unpickle only with the user's explicit opt-in."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True), False
    except pickle.UnpicklingError as err:
        if not trust_pickle:
            raise UsageError(
                f"{path.name} is a full pickle, which can run code when loaded; if you trust its "
                f"source, rerun with --trust-pickle (it will be recorded in the report)") from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise UsageError(f"cannot read checkpoint {path}: {_one_line(err)}; is the file complete? "
                         f"download it again") from err
    log.warning("loading %s as a trusted pickle (--trust-pickle)", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=False), True
    except Exception as err:  # a pickle can fail in any way; the user still gets one line
        raise UsageError(f"cannot unpickle checkpoint {path}: {_one_line(err)}") from err


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def split_checkpoint(raw, path: Path) -> tuple[dict, tuple | None, tuple | None]:
    """Find the classifier's state_dict and any normalization inside a loaded checkpoint.

    MadryLab: ``{'model': {'module.normalizer.new_mean', 'module.model.conv1.weight', ...}}``;
    RobustBench: ``{'normalize.mean', 'model.conv1.weight'}``; plain: ``{'conv1.weight'}``,
    possibly behind ``module.`` (DataParallel) or inside ``{'state_dict': ...}``.
    """
    state = raw
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UsageError(f"{path.name} holds no state_dict of tensors; save the model with "
                         f"torch.save(model.state_dict(), path)")
    prefix = _classifier_prefix(state, path)
    mean, std = _find_normalization(state)
    body = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return body, mean, std


def _classifier_prefix(state: dict, path: Path) -> str:
    """The key prefix under which ``conv1.weight`` lives (MadryLab keeps a duplicate under attacker)."""
    prefixes = [k[: -len("conv1.weight")] for k in state if k.endswith("conv1.weight")
                and "layer" not in k and "attacker" not in k]
    if not prefixes:
        raise UsageError(f"{path.name} does not look like a ResNet checkpoint (no conv1.weight); "
                         f"pass a torchvision-style ResNet state_dict")
    return min(prefixes, key=len)


def _find_normalization(state: dict):
    pairs = (("new_mean", "new_std"), ("normalize.mean", "normalize.std"), ("normalizer.mean", "normalizer.std"))
    for mean_key, std_key in pairs:
        mean = next((v for k, v in state.items() if k.endswith(mean_key) and "attacker" not in k), None)
        std = next((v for k, v in state.items() if k.endswith(std_key) and "attacker" not in k), None)
        if mean is not None and std is not None and mean.numel() == 3:
            return tuple(mean.flatten().tolist()), tuple(std.flatten().tolist())
    return None, None


def infer_arch(state: dict, path: Path) -> str:
    """ResNet depth and width from the block keys; ``--arch`` overrides."""
    blocks = tuple(len({k.split(".")[1] for k in state if k.startswith(f"layer{i}.")}) for i in range(1, 5))
    bottleneck = "layer1.0.conv3.weight" in state
    width = state["layer1.0.conv1.weight"].shape[0] if "layer1.0.conv1.weight" in state else 0
    for arch, (arch_blocks, arch_bottleneck, arch_width) in RESNET_BLOCKS.items():
        if blocks == arch_blocks and bottleneck == arch_bottleneck and (not bottleneck or width == arch_width):
            return arch
    raise UsageError(f"cannot infer the architecture of {path.name} (blocks per stage {blocks}); "
                     f"pass --arch with one of: {', '.join(RESNET_BLOCKS)}")


def _load_strict(net: nn.Module, state: dict, *, arch: str, what: str) -> None:
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape and k != "fc.weight" and k != "fc.bias"]
    if "fc.weight" in state and state["fc.weight"].shape != own["fc.weight"].shape:
        net.fc = nn.Linear(state["fc.weight"].shape[1], state["fc.weight"].shape[0])
    if missing or unexpected or wrong:
        sample = (missing or unexpected or wrong)[:2]
        raise UsageError(f"checkpoint {what} does not fit {arch}: {len(missing)} missing, {len(unexpected)} "
                         f"unexpected, {len(wrong)} mis-shaped keys (e.g. {', '.join(sample)}); "
                         f"check --arch or the checkpoint")
    net.load_state_dict(state, strict=True)


def _looks_like_fashion(state: dict) -> bool:
    """The built-in net: 16-wide stem, one block per stage, 10 classes."""
    stem = state.get("conv1.weight")
    return stem is not None and stem.shape[0] == 16 and "layer1.1.conv1.weight" not in state \
        and state.get("fc.weight", torch.empty(0, 0)).shape == (10, 128)


def _fashion_from_state(state: dict, path: Path, pickle_used: bool) -> LoadedModel:
    from .zoo import FashionResNet

    net = FashionResNet()
    _load_strict(net, state, arch="fashion_resnet", what=str(path))
    return LoadedModel(freeze(net), name=path.stem, arch="fashion_resnet", sha256=sha256_file(path),
                       labels=fashion_labels(), input_size=28, resize=None, grayscale=True,
                       pickle_used=pickle_used)


def _labels_for(n_classes: int, path: Path) -> LabelSet:
    if n_classes == 1000:
        return imagenet_labels()
    if n_classes == 10:
        return fashion_labels()
    return LabelSet(name=f"{n_classes}-class", names=tuple(f"class {i}" for i in range(n_classes)))


def check_same_labels(a: LoadedModel, b: LoadedModel) -> None:
    """Both models must predict over one label set, or accuracies are not comparable."""
    if a.labels.names != b.labels.names:
        raise UsageError(f"the two models have different label sets ({a.labels.name}, {len(a.labels)} classes vs "
                         f"{b.labels.name}, {len(b.labels)} classes); compare models trained on the same classes")


def check_layers(module: nn.Module, layers: list[str]) -> list[str]:
    """Every layer name must be a module path; a bad one gets the valid names listed."""
    known = dict(module.named_modules())
    for layer in layers:
        if not layer or layer not in known:
            blocks = [n for n in known if n.count(".") <= 1 and n and not n.startswith("input_normalize")]
            raise UsageError(f"unknown layer '{layer}'; valid names include: {', '.join(blocks[:24])}"
                             f"{' ...' if len(blocks) > 24 else ''} (any module path, e.g. layer3.1.conv2)")
    return layers
