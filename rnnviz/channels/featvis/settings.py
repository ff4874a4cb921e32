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


def build(
    *,
    model_id: str,
    recipe: str,
    quality: str,
    q: Quality,
    input_size: int,
    seed: int,
    grayscale: bool,
    diversity: int,
    dev: torch.device,
    seed_size: int | None = None,
    objective: str = "channel",
) -> dict:
    """The settings dict: the cache key of every entry, and copied into each entry's meta.json.

    ``accent`` renders at its seed images' own size ``seed_size`` (the real image, not a resized
    copy), with no diversity images, and its pull weight and jitter in the key; each entry's key
    also holds its seed image's digest (``rendercache``).
    """
    accent = recipe == "accent"
    extra = {"pull": ACCENT_PULL, "jitter_px": ACCENT_JITTER_PX} if accent else {}
    return {
        "model_id": model_id,
        "recipe": recipe,
        "quality": quality,
        "steps": q.steps,
        "size": seed_size if accent and seed_size else q.size(input_size),
        "seed": seed,
        "input_size": input_size,
        "grayscale": grayscale,
        "diversity": 0 if accent else diversity,
        **extra,
        "objective": objective,
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
