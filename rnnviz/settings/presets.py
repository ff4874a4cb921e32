"""Presets: matched model pairs of one architecture, with the data and defaults that fit them.

Each preset names where its weights come from, the architecture, the published clean top-1
accuracy of both models and the robust model's threat model; ``--preset``'s choices come from this
one list, and a test holds the README and docs/models.md to it.

The MadryLab twins (Salman et al. 2020, "Do Adversarially Robust ImageNet Models Transfer
Better?") are ``{arch}_l2_eps0.ckpt`` (standard) and ``{arch}_l2_eps3.ckpt`` (L2 eps 3) on
Hugging Face; the file names are those of the paper's repository (microsoft/robust-models-transfer)
and the short names map to torchvision builders as its loaders do. Loading still confirms the
architecture from the checkpoint's keys.

A ladder preset (``ladder``) lists several models of one architecture in increasing training eps,
for a dose-response against training eps; its pair fields are its first and last rung, so every
pair code path runs it as that pair.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

MADRY_URL = "https://huggingface.co/madrylab/robust-imagenet-models/resolve/main/"


@dataclass(frozen=True)
class Rung:
    """A model of a ladder: its spec as ``--standard``/``--robust`` take it, its training eps in the
    preset's ``train_norm`` unit (0 for the standard model), and its published clean top-1 (%)."""

    spec: str
    train_eps: float
    published: float | None = None
    note: str = ""  # what else sets this model apart from its neighbours (page 1 of a ladder says it)


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
    ladder: tuple[Rung, ...] = ()  # the models in increasing training eps; empty for a pair


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


def _ladder(rungs: tuple[Rung, ...], base: Preset, description: str, threat_model: str, norm: str) -> Preset:
    """A ladder preset on ``base``'s data, classes, eps grid and arch, its rungs trained in ``norm``:
    its pair is the first and last rung, and the published pair and training eps are theirs."""
    first, last = rungs[0], rungs[-1]
    published = None
    if first.published is not None and last.published is not None:
        published = (first.published, last.published)
    return replace(
        base,
        standard=first.spec,
        robust=last.spec,
        description=description,
        published=published,
        threat_model=threat_model,
        train_eps=last.train_eps,
        train_norm=norm,
        ladder=rungs,
    )


# MadryLab's ResNet-50s by training eps (L2; Linf in /255) -> published clean top-1 (%), ImageNet
# validation set: the tables "Standard Accuracy of L2-Robust / Linf-Robust ImageNet Models" of
# microsoft/robust-models-transfer's README. The file names spell eps as there: L2 eps0.01, eps1,
# eps3; Linf eps0.5, eps1.0, eps8.0.
RESNET50_L2 = {0: 75.80, 0.01: 75.68, 0.03: 75.76, 0.05: 75.59, 0.1: 74.78, 0.25: 74.14, 0.5: 73.16, 1: 70.43, 3: 62.83}
RESNET50_LINF = {0.5: 73.73, 1: 72.05, 2: 69.10, 4: 63.86, 8: 54.53}


def _madry_l2(eps: float) -> Rung:
    return Rung(f"{MADRY_URL}resnet50_l2_eps{eps:g}.ckpt", float(eps), RESNET50_L2[eps])


def _madry_linf(eps: float) -> Rung:
    """A Linf rung: ``eps`` in /255 in the file name, in [0, 1] pixel units as its training eps."""
    return Rung(f"{MADRY_URL}resnet50_linf_eps{eps:.1f}.ckpt", eps / 255, RESNET50_LINF[eps])


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

# the built-in ResNet trained at four eps (0: the standard model); published: the model card's figures
PRESETS["fashion-ladder"] = _ladder(
    (
        Rung("builtin:fashion-standard", 0.0, 92.83),
        Rung("builtin:fashion-robust-eps0.05", 0.05, 88.48),
        Rung("builtin:fashion-robust", 0.1, 86.61),
        Rung(
            "builtin:fashion-robust-eps0.2",
            0.2,
            75.37,
            "it is the first of its four training epochs (later ones overfit catastrophically, MODEL_CARD.md), so "
            "it is also less trained than the others",
        ),
    ),
    PRESETS["fashion"],
    "built-in Fashion-MNIST ResNet at training eps 0, 0.05, 0.1, 0.2 (offline)",
    "Linf eps 0.2 (FGSM-RS training)",
    "linf",
)
PRESETS["imagenet-ladder-l2"] = _ladder(
    tuple(_madry_l2(e) for e in RESNET50_L2),
    PRESETS["imagenet"],
    "MadryLab ResNet-50 at L2 training eps 0 to 3 (nine models)",
    _L2_3.label,
    _L2_3.norm,
)
PRESETS["imagenet-ladder-linf"] = _ladder(
    (_madry_l2(0), *(_madry_linf(e) for e in RESNET50_LINF)),
    PRESETS["imagenet"],
    "MadryLab ResNet-50 at Linf training eps 0 to 8/255 (six models)",
    "Linf eps 8/255",
    "linf",
)
