"""The job's inputs, checked before any work: the two models, the images, the layers.


Everything here fails fast with a ``UsageError`` that names the fix, so a bad flag stops a run
before the attack, not after it. ``prepare`` is the job's first stage: it returns the ``Job`` every
later stage (``rnnviz.pipeline.stages``) reads.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from rnnviz.common.cache import cache_dir
from rnnviz.common.errors import UsageError
from rnnviz.common.names import MODELS, parse_channel_key
from rnnviz.data.builtin import stream_builtin
from rnnviz.data.images import ImageSet, Preprocess, Selection
from rnnviz.data.lazy import LazyImages, lazy_set
from rnnviz.data.pool import ExemplarPool, exemplar_pool
from rnnviz.data.sources import check_sources
from rnnviz.data.stream import CheckPlan, eager_set, stream_folder
from rnnviz.models.input_size import MEMORY_ENV, available_memory
from rnnviz.models.loading import LoadedModel, load_model
from rnnviz.pipeline.memo import ModelMemo
from rnnviz.results.build import same_model_note
from rnnviz.settings.config import Config, validate
from rnnviz.settings.patching import patch_ladder
from rnnviz.settings.replicas import replicate_pairs
from rnnviz.sweep.distributed import Distributed
from rnnviz.sweep.hooks import channel_counts, check_layers
from rnnviz.sweep.settings import SweepShape, sweep_cost


@dataclass(frozen=True)
class Job:
    """What every stage of one run reads: its settings, models and images, and this rank's shard.

    ``cfg`` is the run as given, ``resolved`` the same with its layers filled in (what results.json
    records), ``work`` the one the engine runs (also this rank's device). ``part`` is this rank's
    shard ``span`` of ``images`` (all of them in one process). ``replicas``: the further pairs of
    ``--replicate`` (``rnnviz.pipeline.replicas``); ``pool``: the cards' wider exemplar
    pool (``rnnviz.pipeline.pool``), None with ``--exemplar-pool chosen``.
    """

    cfg: Config
    resolved: Config
    work: Config
    models: dict[str, LoadedModel]
    images: ImageSet
    part: ImageSet
    span: range
    ctx: Distributed
    replicas: tuple[dict[str, LoadedModel], ...] = ()  # further pairs (--replicate), loaded by the job
    pool: ExemplarPool | None = None
    memo: ModelMemo | None = None  # a ladder's reference model, measured once for every pair


def prepare(cfg: Config, ctx: Distributed) -> Job:
    """Check ``cfg``, load the models and the images, choose the layers, cut this rank's shard."""
    work = ctx.stage("checks", lambda: checked(cfg, ctx))
    models = load_models(work, ctx)
    images = ctx.stage("loading the images", lambda: load_images(work, models["standard"], lazy=True, ctx=ctx))
    layers = ctx.stage("checking the layers", lambda: chosen_layers(work, models, images))
    batch = ctx.stage("checking the memory", lambda: fitting_batch(work, models["standard"], layers, images, ctx.world))
    pool = ctx.stage("the exemplar pool", lambda: load_pool(work, models["standard"], images, ctx))
    span = ctx.shard(len(images))
    part = shard_images(images, span) if ctx.world > 1 else images
    resolved, worked = replace(cfg, layers=layers), replace(work, layers=layers, batch_size=batch)
    return Job(cfg, resolved, worked, models, images, part, span, ctx, pool=pool)


def load_pair(cfg: Config) -> dict[str, LoadedModel]:
    """Both models of ``cfg``, on ``cfg.device``, checked to share one label set.


    Args:
        cfg: a validated ``Config`` (``rnnviz.build_config``).
    Returns:
        ``{"standard": LoadedModel, "robust": LoadedModel}``.
    """
    models = {
        m: load_model(getattr(cfg, m), arch=cfg.arch, trust_pickle=cfg.trust_pickle, device=cfg.device) for m in MODELS
    }
    check_same_labels(models["standard"], models["robust"])
    if (note := same_model_note(models)) is not None:
        warnings.warn(note, stacklevel=2)
    return models


def check_same_labels(a: LoadedModel, b: LoadedModel) -> None:
    """Both models must predict over one label set, or accuracies are not comparable."""
    if a.labels.names != b.labels.names:
        raise UsageError(
            f"the two models have different label sets ({a.labels.name}, {len(a.labels)} classes vs "
            f"{b.labels.name}, {len(b.labels)} classes); compare models trained on the same classes"
        )


def resolve_classes(cfg: Config, model: LoadedModel) -> list[int]:
    """``cfg.classes`` as indices into ``model``'s label set (each class once)."""
    indices = [model.labels.resolve(c) for c in cfg.classes]
    if len(set(indices)) < len(indices):
        raise UsageError(f"--classes names one class twice ({', '.join(cfg.classes)}); give each class once")
    return indices


def load_images(cfg: Config, model: LoadedModel, lazy: bool = False, ctx: Distributed | None = None) -> ImageSet:
    """The images of ``cfg.classes`` (``cfg.n_images`` per class), preprocessed for ``model``.


    Args:
        lazy: pixels as a ``LazyImages`` view of a stream (what ``run`` uses: memory flat in the
            number of images, decoded a batch at a time in ``cfg.workers`` processes) instead of a tensor.
        ctx: under torchrun, each rank checks 1/world of the files up front and all share the findings.
    Returns:
        ``ImageSet``: images (N, 3, H, W) in [0, 1], labels, class indices, sources.
    """
    class_indices = resolve_classes(cfg, model)
    if cfg.data == "builtin":
        stream = stream_builtin(class_indices, cfg.n_images, cfg.seed)
    else:
        assert cfg.data is not None, "check_sources names the missing data folder first"
        prep = Preprocess(model.input_size, model.resize)
        selection = Selection(class_indices, cfg.n_images, cfg.seed, cfg.label)
        check = check_plan(cfg, ctx or Distributed())
        stream = stream_folder(Path(cfg.data), model.labels, selection, prep, check=check)
    return lazy_set(stream, cfg.batch_size, cfg.workers) if lazy else eager_set(stream)


def choose_layers(cfg: Config, models: dict[str, LoadedModel]) -> list[str]:
    """``cfg.layers``, or the standard model's default layers; checked to exist in both models."""
    layers = cfg.layers or models["standard"].default_layers
    for m in MODELS:
        check_layers(models[m].module, layers)
    return list(layers)


def check_top_k(cfg: Config, model: LoadedModel, layers: list[str], images: ImageSet) -> None:
    """top-k ranks channels across all chosen layers; it cannot exceed their count."""
    counts = channel_counts(model.module, layers, images.images[:1].to(cfg.device))
    total = sum(counts.values())
    if cfg.top_k > total:
        raise UsageError(
            f"--top-k {cfg.top_k} is more than the {total} channels in the chosen layers; use at most {total}"
        )
    check_patching(cfg, total, len(images))
    for layer, channel in map(parse_channel_key, cfg.neurons or []):
        if layer not in counts or channel >= counts[layer]:
            raise UsageError(
                f"--neurons {layer}:{channel} is not a channel of an analysed layer; add the "
                f"layer to --layers and use a channel below its width"
            )


def check_patching(cfg: Config, channels: int, n_images: int) -> None:
    """Before the attack, what patching could not answer: a k with no k channels left outside the top k
    for its matched controls (they would be smaller, or patch the top k itself), and a share of the
    images that picks none of them (no patched image, no damage to undo, no verdict)."""
    import torch

    from rnnviz.sweep.bootstrap import image_uniform

    ladder = patch_ladder(cfg.patch)
    too_big = [k for k in ladder if 2 * k > channels]
    if too_big:
        raise UsageError(
            f"--patch {cfg.patch}: the chosen layers hold {channels} channels, so a top {too_big[0]} leaves too few "
            f"outside it for its random and similar-|F| controls; use k of at most {channels // 2}"
        )
    # the default share on a handful of images may pick none: that run says "no verdict"; a share the
    # user chose that picks none is refused
    if ladder and cfg.patch_share < 1 and n_images and cfg.patch_share != Config.patch_share:
        first = float(image_uniform(cfg.seed, torch.arange(n_images)).min())  # an image is patched below its draw
        if cfg.patch_share <= first:
            digits = 1 - math.floor(math.log10(first))
            enough = math.ceil(first * 10**digits) / 10**digits  # two significant digits, rounded up
            raise UsageError(
                f"--patch-share {cfg.patch_share:g} picks none of the {n_images} images to patch; "
                f"use at least {enough:g} or --patch none"
            )


MEMORY_SHARE = 0.8  # of the memory the machine says is available: the rest for torch's caches and the report


def fitting_batch(cfg: Config, model: LoadedModel, layers: list[str], images: ImageSet, world: int = 1) -> int:
    """``cfg.batch_size``, or the largest batch whose sweep fits in memory (one warning line); one line
    refusing the run when even one image at a time does not fit (many layers: the cross-model sums
    grow with the square of their channels), before any of the sweep's hours are spent."""
    limit = memory_limit(cfg.device)
    if limit is None:
        return cfg.batch_size
    pairs = 1 + len(replicate_pairs(cfg.replicate))
    x = images.images[:1].to(cfg.device)
    moving = sum(e > 0 for e in cfg.eps)
    shape = SweepShape(moving, len(cfg.attack), cfg.bootstrap, len(cfg.classes), pairs)
    cost = sweep_cost(model.module, layers, x, shape)
    if world * cost.need(1) > limit:
        raise UsageError(
            f"{len(layers)} layers ({cost.channels} channels) need about {size_text(world * cost.need(1))} even "
            f"one image at a time (the cross-model sums grow with the square of the channels), more than the "
            f"{size_text(limit)} available; analyse fewer --layers (the defaults: {len(model.default_layers)}), "
            f"or set {MEMORY_ENV} (MB) if more is free"
        )
    fits = (limit - world * cost.fixed) // (world * cost.per_image)
    if fits >= cfg.batch_size:
        return cfg.batch_size
    warnings.warn(
        f"{batch_note(cfg.batch_size, int(fits))}: {cfg.batch_size} images of {len(layers)} layers need about "
        f"{size_text(world * cost.need(cfg.batch_size))}, more than the {size_text(limit)} available",
        stacklevel=2,
    )
    return int(fits)


def size_text(n_bytes: int) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.0f} MB"


def batch_note(asked: int, used: int) -> str:
    return f"--batch-size lowered from {asked} to {used} to fit in memory (numbers change only by float rounding)"


def memory_limit(device: str) -> int | None:
    """Bytes the sweep may use: ``RNNVIZ_MEMORY_MB`` as given, else a share of what is free on the
    device (a GPU's own memory, or the machine's); None where nothing says."""
    import torch

    if os.environ.get(MEMORY_ENV) or not device.startswith("cuda"):
        free = available_memory()
        return None if free is None else int(free if os.environ.get(MEMORY_ENV) else free * MEMORY_SHARE)
    return int(torch.cuda.mem_get_info(torch.device(device))[0] * MEMORY_SHARE)


def check_device(device: str) -> None:
    """``--device cuda`` on a machine without one: say so before any work, with the fix."""
    import torch

    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        if not torch.cuda.is_available():
            raise UsageError(f"--device {device}: no CUDA GPU is available here; use --device cpu")
        if index >= torch.cuda.device_count():
            raise UsageError(
                f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s); "
                f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )


def check_render_cache() -> None:
    """A read-only render cache fails here, before the attack, not after it."""
    try:
        folder = cache_dir("renders")
    except OSError as err:
        raise UsageError(
            f"cannot create the render cache ({err.strerror}: {err.filename}); set RNNVIZ_CACHE to a writable folder"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(
            f"the render cache {folder} is not writable; set RNNVIZ_CACHE to a writable folder or use --quality none"
        )


def checked(cfg: Config, ctx: Distributed) -> Config:
    """``cfg`` validated, with this rank's device (``cuda`` under torchrun: cuda:LOCAL_RANK)."""
    validate(cfg)
    check_sources(cfg)
    work = replace(cfg, device=ctx.device(cfg.device))
    check_device(work.device)
    if cfg.quality != "none":
        check_render_cache()
    return work


def load_models(cfg: Config, ctx: Distributed) -> dict[str, LoadedModel]:
    """Rank 0 loads (and downloads) first; the others then load from the warm cache."""
    first = ctx.stage("loading the models", lambda: load_pair(cfg) if ctx.is_main else None)
    return ctx.stage("loading the models", lambda: first if first is not None else load_pair(cfg))


def chosen_layers(cfg: Config, models: dict[str, LoadedModel], images: ImageSet) -> list[str]:
    layers = choose_layers(cfg, models)
    check_top_k(cfg, models["standard"], layers, images)
    return layers


def shard_images(images: ImageSet, span: range) -> ImageSet:
    """This rank's images: the one place a shard is cut from the image set (of a ``LazyImages``
    view, a view of ``span`` alone: the rank decodes only its own images)."""
    pixels = images.images
    return replace(
        images,
        images=pixels.shard(span) if isinstance(pixels, LazyImages) else pixels[span.start : span.stop],
        labels=images.labels[span.start : span.stop],
        sources=images.sources[span.start : span.stop],
    )


def load_pool(cfg: Config, model: LoadedModel, images: ImageSet, ctx: Distributed) -> ExemplarPool | None:
    """The run's pool with ``--exemplar-pool all`` and cards on (None otherwise, or when the source
    has no class beyond the chosen ones). Under torchrun the ranks share the check of its files."""
    if cfg.exemplar_pool != "all" or not cfg.exemplars or cfg.data is None:
        return None
    analysed = Selection(images.class_indices, cfg.n_images, cfg.seed, cfg.label)
    prep = Preprocess(model.input_size, model.resize)
    return exemplar_pool(cfg.data, model.labels, analysed, prep, len(images), check=check_plan(cfg, ctx))


def check_plan(cfg: Config, ctx: Distributed) -> CheckPlan:
    """The up-front file check in ``cfg.workers`` processes; under torchrun each rank checks its own
    share of the files and all share their findings."""
    return CheckPlan(cfg.workers, (ctx.rank, ctx.world), ctx.all_gather if ctx.world > 1 else None)
