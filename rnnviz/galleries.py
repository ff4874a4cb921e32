"""Feature-visualization galleries: render each model's top-k channels and copy them into the folder.

The renders live in the content-keyed cache (``rnnviz.featvis``); the report folder gets its own
copies under ``figures/renders/`` so it stays self-contained.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from .config import Config
from .data import ImageSet
from .fileio import atomic_path
from .models import LoadedModel
from .names import MODELS, layer_order, slug


def _layer_channel(key: str) -> tuple[str, int]:
    """``"layer3.1:17"`` (results.json's key) -> ``("layer3.1", 17)``."""
    layer, _, channel = key.rpartition(":")
    return layer, int(channel)


def render_galleries(
    cfg: Config,
    out: Path,
    models: dict[str, LoadedModel],
    results: dict,
    progress: bool = True,
    images: ImageSet | None = None,
) -> list[dict]:
    """Render the union of top-k channels over all eps, once per model and recipe.

    ``accent`` starts each channel from its best real image (``results["exemplars"]``' first clean
    exemplar, an index into ``images``); without exemplars or images it is skipped, and so is a
    channel that has no clean exemplar.
    """
    from . import featvis

    entries = []
    for m in MODELS:
        order = layer_order(
            results["config"]["layers"], [r["layer"] for per in results["top_channels"][m] for r in per]
        )
        channels = sorted(
            {(r["layer"], r["channel"]) for per in results["top_channels"][m] for r in per},
            key=lambda lc: (order.index(lc[0]), lc[1]),
        )
        max_act = {_layer_channel(key): v for key, v in results["channel_max_activation"][m].items()}
        for recipe in cfg.recipes:
            seeds = _seed_images(results, m, images) if recipe == "accent" else None
            if recipe == "accent" and not seeds:
                continue
            renders = featvis.render_channels(
                models[m].module,
                channels,
                model_id=models[m].sha256,
                input_size=models[m].input_size,
                recipe=recipe,
                quality=cfg.quality,
                seed=cfg.seed,
                device=cfg.device,
                grayscale=models[m].grayscale,
                diversity=cfg.diversity,
                max_activation=max_act,
                progress=f"render {m} ({recipe})" if progress else None,
                seeds=seeds,
            )
            entries += [_copy_render(out, m, r) for r in renders]
    return entries


def _seed_images(results: dict, model: str, images: ImageSet | None) -> dict[tuple[str, int], torch.Tensor]:
    """(layer, channel) -> the channel's top clean exemplar, (3, H, W) in [0, 1]; empty when the
    run has no exemplars or no images."""
    exemplars = (results.get("exemplars") or {}).get(model) or {}
    if images is None:
        return {}
    seeds = {}
    for key, entry in exemplars.items():
        clean = (entry or {}).get("clean") or []
        if clean:
            seeds[_layer_channel(key)] = images.images[int(clean[0]["index"])]
    return seeds


def _copy(src: Path, dest: Path) -> None:
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def _copy_render(out: Path, model: str, render) -> dict:
    stem = f"figures/renders/{model}_{slug(render.layer)}_{render.channel}_{render.recipe}"
    _copy(render.png, out / f"{stem}.png")
    diversity = []
    for i, path in enumerate(render.diversity):
        _copy(path, out / f"{stem}_div{i}.png")
        diversity.append(f"{stem}_div{i}.png")
    return {
        "model": model,
        "layer": render.layer,
        "channel": render.channel,
        "recipe": render.recipe,
        "image": f"{stem}.png",
        "relative_activation": render.relative_activation,
        "final_activation": render.final_activation,
        "dead": render.dead,
        "diversity": diversity,
    }
