"""The built-in offline model pairs: standard and adversarially trained Fashion-MNIST nets
(a small ResNet, ``fashion-*``, and a small VGG-style net, ``fashion-vgg-*``), and the ResNet pair
trained again with seed 1 (``fashion-*-seed1``), for checking that a finding replicates.

Shipped inside the package (weights, a 1000-image test sample) so that rnnviz runs
end to end with no download. ``MODEL_CARD.md`` says how they were trained.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnviz.common.errors import UsageError
from rnnviz.models.labels import FASHION_NAMES
from rnnviz.models.zoo.net import FashionResNet, FashionVGG

__all__ = [
    "BUILTIN_NETS",
    "BUILTIN_SHA256",
    "FASHION_CLASSES",
    "FashionResNet",
    "FashionVGG",
    "builtin_weights_path",
    "load_fashion_sample",
]

ZOO_DIR = Path(__file__).resolve().parent
SAMPLE_PATH = ZOO_DIR / "fashion_sample.npz"

FASHION_CLASSES = FASHION_NAMES  # the dataset's own class names, in label order (one home: labels)

BUILTIN_SHA256 = {
    "fashion-standard": "cdb44a6fa4d6d97e42a683232bb1cddbabb027dcf5bdecacae971ed6c96260fa",
    "fashion-robust": "48289e3eb32fc0a96f53c5d381c6838b1c5f54a1722180c2cdf18608749dc0b0",
    "fashion-vgg-standard": "4eaf4c2d0191a1b2c230f1dd5c710dc915260cb55a39397322d5af1983569189",
    "fashion-vgg-robust": "e57ac184b3ee42a4e646939ef0d4a49d3a68b8da221ab6186ff54f8bfb4ad224",
    "fashion-standard-seed1": "06a8ac7b6ff925c82049270aa2cd1c29a6f107a3d8a61e0ec5d75c5b361f4a81",
    "fashion-robust-seed1": "1e038b6da7ab1f2093fc5673ef3257fee404d6df3f2e0904d950cb649cb58cc4",
    "fashion-robust-eps0.05": "b3b1d5a65c0e28dfc9a56d245975b2620990f919d4e6f70881522e889b46cb79",
    "fashion-robust-eps0.2": "f5432cbb7a8c8add76ff8d6a444f10b8c0d6e50945ab5773a92b07f80ef03589",
}


# built-in name -> (net class, arch name reported in results.json)
BUILTIN_NETS = {
    "fashion-standard": (FashionResNet, "fashion_resnet"),
    "fashion-robust": (FashionResNet, "fashion_resnet"),
    "fashion-vgg-standard": (FashionVGG, "fashion_vgg"),
    "fashion-vgg-robust": (FashionVGG, "fashion_vgg"),
    "fashion-standard-seed1": (FashionResNet, "fashion_resnet"),  # the ResNet pair again, training seed 1
    "fashion-robust-seed1": (FashionResNet, "fashion_resnet"),
    "fashion-robust-eps0.05": (FashionResNet, "fashion_resnet"),  # the robust ResNet at other training eps:
    "fashion-robust-eps0.2": (FashionResNet, "fashion_resnet"),  # the rungs of the fashion robustness ladder
}
NETS = {"resnet": "fashion", "vgg": "fashion-vgg"}  # training script's --net -> name prefix


def builtin_weights_path(name: str) -> Path:
    """Path of a shipped weights file (a plain ``state_dict`` of its net class)."""
    if name not in BUILTIN_NETS:
        raise UsageError(f"unknown built-in model {name!r}; use one of: {', '.join(BUILTIN_NETS)}")
    return ZOO_DIR / f"{name}.pt"


def load_fashion_sample() -> tuple[np.ndarray, np.ndarray]:
    """The shipped test-set sample: uint8 images (N, 28, 28) and int64 labels (N,)."""
    with np.load(SAMPLE_PATH) as data:
        return data["images"], data["labels"]
