"""Presets: matched model pairs of one architecture, with the data and defaults that fit them.

Each preset names where its weights come from, the architecture, the published clean top-1
accuracy of both models and the robust model's threat model; ``--preset``'s choices come from this
one list, and a test holds the README and docs/models.md to it.

The MadryLab twins (Salman et al. 2020, "Do Adversarially Robust ImageNet Models Transfer
Better?") are ``{arch}_l2_eps0.ckpt`` (standard) and ``{arch}_l2_eps3.ckpt`` (L2 eps 3) on
Hugging Face; the file names are those of the paper's repository (microsoft/robust-models-transfer)
and the short names map to torchvision builders as its loaders do. Loading still confirms the
architecture from the checkpoint's keys.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

MADRY_URL = "https://huggingface.co/madrylab/robust-imagenet-models/resolve/main/"


@dataclass(frozen=True)
class Rung:
    """A model of a ladder: its spec, its training eps in the preset's ``train_norm`` unit (0 for the
    standard model) and its published clean top-1 % where known."""

    spec: str
    train_eps: float
    published: float | None = None


@dataclass(frozen=True)
class Preset:
    """A matched model pair of one architecture, with data and defaults that fit it.

    ``published`` is the clean top-1 (%) of (standard, robust) on the whole test set, as published
    (for rnnviz's own pairs: as its model card measured); ``accuracy_source`` says where from.
    """

    standard: str
    robust: str
    data: str | None
    classes: tuple[str, ...]
    eps: str
    description: str = ""
    arch: str | None = None
    published: tuple[float, float] | None = None
    threat_model: str = ""
    train_eps: float | None = None  # the robust model's training eps, in the unit of ``train_norm``
    train_norm: str = "linf"
    accuracy_source: str = "published"
    replicate: tuple[str, ...] = ()  # further (standard, robust) specs, in pairs, measured beside the pair
    ladder: tuple[Rung, ...] = ()  # a ladder's models in increasing training eps; empty for a pair


DEFAULT_PRESET = "imagenet"


@dataclass(frozen=True)
class ThreatModel:
    """What a pair's robust model was trained against: as the report names it (``label``), and its
    training eps in the unit of ``norm`` (a preset's ``threat_model``, ``train_eps``, ``train_norm``)."""

    label: str
    eps: float
    norm: str


_LINF_4 = ThreatModel("Linf eps 4/255", 4 / 255, "linf")  # MadryLab's Linf-trained ResNets
_L2_3 = ThreatModel("L2 eps 3", 3.0, "l2")  # the L2-trained twins of Salman et al. 2020


def _imagenet(
    standard: str, robust: str, description: str, arch: str, published: tuple[float, float], threat: ThreatModel
) -> Preset:
    """An ImageNet pair: no data folder of its own, the flamingo class, eps 0, 0.01, 0.1."""
    return Preset(
        MADRY_URL + standard,
        MADRY_URL + robust,
        None,
        ("flamingo",),
        "0,0.01,0.1",
        description=description,
        arch=arch,
        published=published,
        threat_model=threat.label,
        train_eps=threat.eps,
        train_norm=threat.norm,
        accuracy_source="MadryLab robustness library (ImageNet validation set, 50,000 images)",
    )


# preset name -> (MadryLab short name, torchvision arch, label, standard %, robust %)
MADRY_TWINS = {
    "imagenet-densenet": ("densenet", "densenet161", "DenseNet-161", 77.37, 66.98),
    "imagenet-mnasnet": ("mnasnet", "mnasnet1_0", "MNASNet 1.0", 60.97, 41.83),
    "imagenet-mobilenet": ("mobilenet", "mobilenet_v2", "MobileNet-v2", 65.26, 50.40),
    "imagenet-resnext50": ("resnext50_32x4d", "resnext50_32x4d", "ResNeXt-50 32x4d", 77.38, 66.25),
    "imagenet-shufflenet": ("shufflenet", "shufflenet_v2_x1_0", "ShuffleNet-v2 1.0x", 64.25, 43.32),
    "imagenet-vgg16bn": ("vgg16_bn", "vgg16_bn", "VGG16-bn", 73.66, 57.19),
    "imagenet-wrn50-2": ("wide_resnet50_2", "wide_resnet50_2", "Wide ResNet-50-2", 76.97, 66.90),
    "imagenet-wrn50-4": ("wide_resnet50_4", "wide_resnet50_4", "Wide ResNet-50-4", 77.91, 69.67),
}

PRESETS = {
    "fashion": Preset(
        "builtin:fashion-standard",
        "builtin:fashion-robust",
        "builtin",
        ("sneaker", "bag", "ankle boot"),
        "0,0.05,0.1,0.2",
        description="built-in Fashion-MNIST ResNet pair (offline)",
        arch="fashion_resnet",
        threat_model="Linf eps 0.1 (FGSM-RS training)",
        published=(92.83, 86.61),
        train_eps=0.1,
        accuracy_source="model card (full Fashion-MNIST test set, 10,000 images)",
    ),
    "fashion-vgg": Preset(
        "builtin:fashion-vgg-standard",
        "builtin:fashion-vgg-robust",
        "builtin",
        ("sneaker", "bag", "ankle boot"),
        "0,0.05,0.1,0.2",
        description="built-in Fashion-MNIST VGG-style pair (offline)",
        arch="fashion_vgg",
        threat_model="Linf eps 0.1 (FGSM-RS training)",
        published=(92.92, 86.87),
        train_eps=0.1,
        accuracy_source="model card (full Fashion-MNIST test set, 10,000 images)",
    ),
    "imagenet": _imagenet(
        "resnet50_l2_eps0.ckpt",
        "resnet50_linf_eps4.0.ckpt",
        "MadryLab ResNet-50: standard vs Linf 4/255 adversarially trained",
        "resnet50",
        (75.80, 63.86),
        _LINF_4,
    ),
    "imagenet-r18": _imagenet(
        "resnet18_l2_eps0.ckpt",
        "resnet18_linf_eps4.0.ckpt",
        "MadryLab ResNet-18: standard vs Linf 4/255 adversarially trained",
        "resnet18",
        (69.79, 52.49),
        _LINF_4,
    ),
}
for _name, (_short, _arch, _label, _std, _rob) in MADRY_TWINS.items():
    PRESETS[_name] = _imagenet(
        f"{_short}_l2_eps0.ckpt",
        f"{_short}_l2_eps3.ckpt",
        f"MadryLab {_label}: standard vs L2 eps 3 adversarially trained",
        _arch,
        (_std, _rob),
        _L2_3,
    )

del _name, _short, _arch, _label, _std, _rob

# the built-in ResNet pair, replicated by a second training seed of each model
PRESETS["fashion-seeds"] = replace(
    PRESETS["fashion"],
    description="built-in Fashion-MNIST ResNet pair, replicated by a second training seed (offline)",
    replicate=("builtin:fashion-standard-seed1", "builtin:fashion-robust-seed1"),
)
