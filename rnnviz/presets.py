"""Presets: matched model pairs of one architecture, with the data and defaults that fit them.

Each preset names where its weights come from; ``--preset`` help and the README's table are
written from this one list.
"""
from __future__ import annotations

from dataclasses import dataclass

MADRY_URL = "https://huggingface.co/madrylab/robust-imagenet-models/resolve/main/"


@dataclass(frozen=True)
class Preset:
    """A matched model pair of one architecture, with data and defaults that fit it."""

    standard: str
    robust: str
    data: str | None
    classes: tuple[str, ...]
    eps: str
    description: str = ""


DEFAULT_PRESET = "imagenet"
PRESETS = {
    "fashion": Preset("builtin:fashion-standard", "builtin:fashion-robust", "builtin",
                      ("sneaker", "bag", "ankle boot"), "0,0.05,0.1,0.2",
                      description="built-in Fashion-MNIST ResNet pair (offline)"),
    "imagenet": Preset(MADRY_URL + "resnet50_l2_eps0.ckpt", MADRY_URL + "resnet50_linf_eps4.0.ckpt", None,
                       ("flamingo",), "0,0.01,0.1",
                       description="MadryLab ResNet-50: standard vs Linf 4/255 adversarially trained"),
    "imagenet-r18": Preset(MADRY_URL + "resnet18_l2_eps0.ckpt", MADRY_URL + "resnet18_linf_eps4.0.ckpt", None,
                           ("flamingo",), "0,0.01,0.1",
                           description="MadryLab ResNet-18: standard vs Linf 4/255 adversarially trained"),
}
