"""What a render's settings are. Every value built here goes into the cache key, so a change
that alters pixels must show up here (``RENDER_VERSION``) or old cache entries would be reused."""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass

import torch

from rnnviz import __version__
from rnnviz.channels.featvis import loop
from rnnviz.channels.featvis.objectives import ACCENT_PULL
from rnnviz.channels.featvis.transforms import ACCENT_JITTER_PX
from rnnviz.common.errors import UsageError

# Bump when a change to the package changes the pixels of a render: old cache entries then miss.
RENDER_VERSION = 2  # 2: renders stop at their target; accent has one spectrum per element


@dataclass(frozen=True)
class Quality:
    """The cap on optimization steps (a render with a target stops earlier once it reaches it)
    and the rendered size; ``size()`` turns the model's input size into pixels."""

    steps: int
    min_size: int
    max_size: int | None = None

    def size(self, input_size: int) -> int:
        """The model's own size, capped for drafts; small-input (28 px) models are rendered larger,
        since a fully convolutional net with global pooling accepts any size and 28 px is too
        small to see a pattern repeat."""
        capped = input_size if self.max_size is None else min(input_size, self.max_size)
        return max(self.min_size, capped)


# One dict for the whole package: tests and benchmarks add or replace levels in place
# (``monkeypatch.setitem(featvis.QUALITY, ...)``), so it must never be rebound or copied.
QUALITY = {
    "draft": Quality(steps=256, min_size=56, max_size=128),  # 224 -> 128 px, 28 -> 56 px
    "standard": Quality(steps=512, min_size=84),  # 224 -> 224 px, 28 -> 84 px
    "high": Quality(steps=1024, min_size=112),  # 224 -> 224 px, 28 -> 112 px
}


@dataclass(frozen=True)
class ModelFacts:
    """What a render needs to know of a model beyond its module: the id its cache entries are keyed
    by (its weights' digest), its input size (a render's size follows it) and whether it reads its
    input as gray (then a render is gray too)."""

    model_id: str
    input_size: int
    grayscale: bool = False


@dataclass(frozen=True)
class RenderRequest:
    """What a ``render_channels`` call asks for, whatever the model: the recipe (``RECIPES``), the
    quality (a key of ``QUALITY``), the seed of every channel's start and transforms, ``diversity``
    more images per channel, the objective (``channel``: its spatial mean, or ``neuron``: its centre
    value), the device, and ``chunk`` channels optimized together (a channel's neighbours change its
    pixels only by float rounding)."""

    recipe: str = "lucid"
    quality: str = "standard"
    seed: int = 0
    device: str = "cpu"
    diversity: int = 0
    chunk: int = 8
    objective: str = "channel"


def build(facts: ModelFacts, request: RenderRequest, dev: torch.device, seed_size: int | None = None) -> dict:
    """The settings dict: the cache key of every entry, and copied into each entry's meta.json.

    ``accent`` renders at its seed images' own size ``seed_size`` (the real image, not a resized
    copy), with no diversity images, and its pull weight and jitter in the key; each entry's key
    also holds its seed image's digest (``rendercache``).
    """
    accent = request.recipe == "accent"
    extra = {"pull": ACCENT_PULL, "jitter_px": ACCENT_JITTER_PX} if accent else {}
    q = QUALITY[request.quality]
    return {
        "model_id": facts.model_id,
        "recipe": request.recipe,
        "quality": request.quality,
        "steps": q.steps,
        "size": seed_size if accent and seed_size else q.size(facts.input_size),
        "seed": request.seed,
        "input_size": facts.input_size,
        "grayscale": facts.grayscale,
        "diversity": 0 if accent else request.diversity,
        **extra,
        "objective": request.objective,
        "stopping": {"check_every": loop.CHECK_EVERY, "plateau_steps": loop.PLATEAU_STEPS, "rise": loop.PLATEAU_RISE},
        "device": dev.type,
        "precision": precision(dev),
        "versions": versions(),
        "render_version": RENDER_VERSION,
    }


PRECISION_ENV = "RNNVIZ_PRECISION"  # fp32 | bf16 forces a CPU render's precision; unset: auto


def precision(dev: torch.device) -> str:
    """bf16 autocast only where the CPU has native bf16 (about 2x there; far slower when emulated).

    ``RNNVIZ_PRECISION`` overrides the choice on CPU, so a test or user can pin either result.
    """
    forced = os.environ.get(PRECISION_ENV, "")
    if forced not in ("", "fp32", "bf16"):
        raise UsageError(f"{PRECISION_ENV}={forced!r}: use fp32 or bf16, or leave it unset for the automatic choice")
    if forced and dev.type == "cpu":
        return forced
    caps: dict = getattr(torch.cpu, "get_capabilities", dict)()  # torch >= 2.5
    native = caps.get("avx512_bf16", False) or caps.get("amx_bf16", False)
    return "bf16" if dev.type == "cpu" and native else "fp32"


def versions() -> dict:
    """Library versions in the key: a new torch or lucent may round differently."""
    return {"rnnviz": __version__, "torch": torch.__version__, "lucent": importlib.metadata.version("torch-lucent")}
