"""Feature-visualization galleries: render each model's top-k channels and copy them into the folder.

The renders live in the content-keyed cache (``rnnviz.channels.featvis``); the report folder gets its own
copies under ``figures/renders/`` so it stays self-contained.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rnnviz.channels.shown import ShownChannels
from rnnviz.common.files import atomic_path
from rnnviz.common.names import MODELS, parse_channel_key, slug
from rnnviz.common.spectrum import high_frequency_share
from rnnviz.data.images import ImageSet
from rnnviz.models.loading import LoadedModel
from rnnviz.settings.config import Config
from rnnviz.sweep.distributed import Distributed, split_evenly


def render_galleries(
    cfg: Config,
    out: Path,
    models: dict[str, LoadedModel],
    shown: dict[str, ShownChannels],
    cards: dict | None = None,
    images: ImageSet | None = None,
    progress: bool = True,
) -> list[dict]:
    """Render every model's shown channels (``shown``), once per recipe.

    ``accent`` starts each channel from its best real image (``cards``, results.json's ``exemplars``:
    its ``best_analysed``, an index into ``images``); without cards or images it is skipped, and so is
    a channel that has no clean exemplar.
    """
    from rnnviz.channels import featvis

    entries = []
    for m in MODELS:
        channels = shown[m].gallery()
        for recipe in cfg.recipes:
            seeds = seed_images(cards, m, images) if recipe == "accent" else None
            if recipe == "accent" and not seeds:
                continue
            renders = featvis.render_channels(
                models[m].module,
                channels,
                featvis.ModelFacts(models[m].sha256, models[m].input_size, models[m].grayscale),
                featvis.RenderRequest(
                    recipe=recipe, quality=cfg.quality, seed=cfg.seed, device=cfg.device, diversity=cfg.diversity
                ),
                max_activation=dict(shown[m].peaks),
                progress=f"render {m} ({recipe})" if progress else None,
                seeds=seeds,
            )
            entries += [_copy_render(out, m, r) for r in renders]
    return entries


def seed_images(cards: dict | None, model: str, images: ImageSet | None) -> dict[tuple[str, int], torch.Tensor]:
    """(layer, channel) -> the channel's best analysed clean image, (3, H, W) in [0, 1], from the
    cards' entries; empty when the run has no cards or no images."""
    if images is None:
        return {}
    seeds = {}
    for key, entry in ((cards or {}).get(model) or {}).items():
        best = (entry or {}).get("best_analysed")
        if best:
            seeds[parse_channel_key(key)] = images.images[int(best["index"])]
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
        **_convergence(render.steps, render.stop, render.png.read_bytes()),
    }


def _convergence(steps: int, stop: str, png: bytes) -> dict:
    """How far the render got and how textured it is: steps taken, why it stopped and the share
    of its spectral power at high frequency (``rnnviz.common.spectrum``), from its PNG."""
    with Image.open(io.BytesIO(png)) as im:
        share = high_frequency_share(np.asarray(im.convert("RGB")))
    return {"steps": steps, "stop": stop, "high_frequency_share": share if np.isfinite(share) else None}


# ------------------------------------------------------------------ many ranks

RENDER_CHUNK = 8  # channels optimized together: featvis.render_channels' default batch


@dataclass
class RenderJob:
    """One ``render_channels`` call of the single-process path: a model and recipe, its channels in
    the gallery's order, accent's seed images and the peak activations."""

    model: str
    recipe: str
    channels: list[tuple[str, int]]
    seeds: dict[tuple[str, int], torch.Tensor] | None = None
    max_activation: dict[tuple[str, int], float] = field(default_factory=dict)


def render_jobs(
    cfg: Config, shown: dict[str, ShownChannels], cards: dict | None = None, images: ImageSet | None = None
) -> list[RenderJob]:
    """What ``render_galleries`` renders, as jobs (channels without an accent seed left out)."""
    jobs = []
    for m in MODELS:
        channels = shown[m].gallery()
        max_act = dict(shown[m].peaks)
        for recipe in cfg.recipes:
            seeds = seed_images(cards, m, images) if recipe == "accent" else None
            if recipe == "accent":
                if not seeds:
                    continue
                channels_here = [lc for lc in channels if lc in seeds]
                seeds = {lc: seeds[lc] for lc in channels_here}
            else:
                channels_here = list(channels)
            if channels_here:
                jobs.append(RenderJob(m, recipe, channels_here, seeds, max_act))
    return jobs


def render_units(jobs: list[RenderJob], models: dict[str, LoadedModel]) -> list[tuple[int, list[tuple[str, int]]]]:
    """(job index, channels) units: each job's channels in the renderer's own order (shallow layers
    first) cut into its batches, so a rank renders exactly the batches one process would, and every
    render (optimized with its batch neighbours) comes out with the same pixels."""
    units = []
    for j, job in enumerate(jobs):
        depth = {name: i for i, (name, _) in enumerate(models[job.model].module.named_modules())}
        ordered = sorted(job.channels, key=lambda lc: (depth[lc[0]], lc[1]))
        units += [(j, ordered[i : i + RENDER_CHUNK]) for i in range(0, len(ordered), RENDER_CHUNK)]
    return units


def render_share(
    cfg: Config,
    models: dict[str, LoadedModel],
    jobs: list[RenderJob],
    ctx: Distributed,
    progress: bool = True,
) -> list[tuple[int, dict]]:
    """This rank's units rendered: (job index, the render's fields and PNG bytes) per channel.

    The bytes travel to rank 0 with the rest, so ranks on different machines need no shared
    render cache (each rank's own cache still makes a rerun resume)."""
    from rnnviz.channels import featvis

    done = []
    for j, channels in split_evenly(render_units(jobs, models), ctx.rank, ctx.world):
        job, m = jobs[j], jobs[j].model
        renders = featvis.render_channels(
            models[m].module,
            channels,
            featvis.ModelFacts(models[m].sha256, models[m].input_size, models[m].grayscale),
            featvis.RenderRequest(
                recipe=job.recipe,
                quality=cfg.quality,
                seed=cfg.seed,
                device=cfg.device,
                diversity=cfg.diversity,
                chunk=RENDER_CHUNK,
            ),
            max_activation=job.max_activation,
            progress=f"render {m} ({job.recipe})" if progress else None,
            seeds=job.seeds,
        )
        done += [(j, _packed(r)) for r in renders]
    return done


def _packed(render) -> dict:
    return {
        "layer": render.layer,
        "channel": render.channel,
        "recipe": render.recipe,
        "png": render.png.read_bytes(),
        "diversity": [p.read_bytes() for p in render.diversity],
        "relative_activation": render.relative_activation,
        "final_activation": render.final_activation,
        "dead": render.dead,
        "steps": render.steps,
        "stop": render.stop,
    }


def write_shared_renders(out: Path, jobs: list[RenderJob], shares: list[list[tuple[int, dict]]]) -> list[dict]:
    """Rank 0: every rank's renders written into the folder, listed as ``render_galleries`` lists them."""
    by_key = {(j, packed["layer"], packed["channel"]): packed for share in shares for j, packed in share}
    entries = []
    for j, job in enumerate(jobs):
        for layer, ch in job.channels:
            entries.append(_write_render(out, job.model, by_key[(j, layer, ch)]))
    return entries


def _write_bytes(data: bytes, dest: Path) -> None:
    with atomic_path(dest) as tmp:
        Path(tmp).write_bytes(data)


def _write_render(out: Path, model: str, packed: dict) -> dict:
    """``_copy_render`` for a render that arrived as bytes."""
    stem = f"figures/renders/{model}_{slug(packed['layer'])}_{packed['channel']}_{packed['recipe']}"
    _write_bytes(packed["png"], out / f"{stem}.png")
    diversity = []
    for i, data in enumerate(packed["diversity"]):
        _write_bytes(data, out / f"{stem}_div{i}.png")
        diversity.append(f"{stem}_div{i}.png")
    return {
        "model": model,
        "layer": packed["layer"],
        "channel": packed["channel"],
        "recipe": packed["recipe"],
        "image": f"{stem}.png",
        "relative_activation": packed["relative_activation"],
        "final_activation": packed["final_activation"],
        "dead": packed["dead"],
        "diversity": diversity,
        **_convergence(packed["steps"], packed["stop"], packed["png"]),
    }
