"""The whole job, stage by stage: models -> images -> attack + sensitivity -> renders -> folder.

Each stage writes what it finished before the next starts (results.json is rewritten after the
attack and again after the renders), so an interrupted run loses nothing that is done, and the
render cache makes a rerun with the same settings resume where it stopped. ``run`` changes
neither its ``Config`` nor any global state (every random draw has its own generator).
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from rnnviz.channels import galleries
from rnnviz.channels.cards import write_cards
from rnnviz.common.cache import cache_dir
from rnnviz.common.errors import UsageError
from rnnviz.common.names import MODELS, NORMS
from rnnviz.data.images import ImageSet, Preprocess, load_builtin_sample, load_folder
from rnnviz.data.stream import LazyImages, lazy_set, stream_builtin, stream_folder
from rnnviz.measures import patching, primary
from rnnviz.measures.curves import eps_grid, fgsm_curve
from rnnviz.measures.transfer import TransferCounts, transfer
from rnnviz.models.loading import LoadedModel, load_model
from rnnviz.results.attack_entries import attack_results, context, curve_results
from rnnviz.results.build import build_results, write_results
from rnnviz.results.runfolder import claim
from rnnviz.results.sample_images import choose_examples, write_examples
from rnnviz.results.source import capacity
from rnnviz.results.tables import write_tables
from rnnviz.settings.config import Config, check_sources, patch_ladder, validate
from rnnviz.sweep.analysis import ModelAnalysis, NonFiniteOutput, SweepSettings, analyze_attacks, concat_attacks
from rnnviz.sweep.attacks import PGDSettings
from rnnviz.sweep.distributed import Distributed, session
from rnnviz.sweep.hooks import channel_counts, check_layers

if TYPE_CHECKING:
    import torch

# ------------------------------------------------------------------ stages


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
        if not lazy:
            return load_builtin_sample(class_indices, cfg.n_images, cfg.seed)
        stream = stream_builtin(class_indices, cfg.n_images, cfg.seed)
    else:
        assert cfg.data is not None, "check_sources names the missing data folder first"
        prep = Preprocess(model.input_size, model.resize)
        folder = (Path(cfg.data), model.labels, class_indices, cfg.n_images, cfg.seed, prep, cfg.label)
        if not lazy:
            return load_folder(*folder)
        ctx = ctx or Distributed()
        gather = ctx.all_gather if ctx.world > 1 else None
        stream = stream_folder(*folder, workers=cfg.workers, check_shard=(ctx.rank, ctx.world), gather=gather)
    return lazy_set(stream, cfg.batch_size, cfg.workers)


def _pixels(images: ImageSet) -> torch.Tensor:
    """The engine's ``images``: a tensor, or a ``LazyImages`` view, which serves all the engine reads
    of one (``len``, slices, index lists), so it stands in for the tensor."""
    return cast("torch.Tensor", images.images)


def choose_layers(cfg: Config, models: dict[str, LoadedModel]) -> list[str]:
    """``cfg.layers``, or the standard model's default layers; checked to exist in both models."""
    layers = cfg.layers or models["standard"].default_layers
    for m in MODELS:
        check_layers(models[m].module, layers)
    return list(layers)


def sweep_settings(
    cfg: Config,
    layers: list[str],
    examples: Sequence[int] = (),
    classes: Sequence[int] = (),
    first_index: int = 0,
) -> SweepSettings:
    """The engine's settings for ``cfg``: one object, shared by both models (``first_index``: the
    global index of the first image of this rank's shard)."""
    return SweepSettings(
        eps=cfg.eps,
        layers=layers,
        attack=cfg.primary_attack,
        pgd=PGDSettings(cfg.pgd_steps, cfg.pgd_step_size),
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        examples=examples,
        neurons=[_layer_channel(n) for n in cfg.neurons or []],
        device=cfg.device,
        bootstrap=cfg.bootstrap,
        noise=True,
        classes=classes,
        exemplars=cfg.exemplars,
        first_index=first_index,
    )


def check_top_k(cfg: Config, model: LoadedModel, layers: list[str], images: ImageSet) -> None:
    """top-k ranks channels across all chosen layers; it cannot exceed their count."""
    counts = channel_counts(model.module, layers, images.images[:1].to(cfg.device))
    total = sum(counts.values())
    if cfg.top_k > total:
        raise UsageError(
            f"--top-k {cfg.top_k} is more than the {total} channels in the chosen layers; use at most {total}"
        )
    for layer, channel in map(_layer_channel, cfg.neurons or []):
        if layer not in counts or channel >= counts[layer]:
            raise UsageError(
                f"--neurons {layer}:{channel} is not a channel of an analysed layer; add the "
                f"layer to --layers and use a channel below its width"
            )


def run_analysis(
    cfg: Config,
    models: dict[str, LoadedModel],
    images: ImageSet,
    settings: SweepSettings,
    progress: bool = True,
    ranks: int = 1,
) -> dict[str, dict[str, ModelAnalysis]]:
    """Attack both models with every attack of ``cfg`` (attack -> model -> analysis); a NaN names
    the model that produced it. ``images`` is one of ``ranks`` shards (the bar shows the job's rate)."""
    by_attack: dict[str, dict[str, ModelAnalysis]] = {a: {} for a in cfg.attack}
    for m in MODELS:
        try:
            per = analyze_attacks(
                models[m].module,
                _pixels(images),
                images.labels,
                settings,
                cfg.attack,
                progress=f"{'+'.join(cfg.attack).upper()} {m}" if progress else None,
                ranks=ranks,
            )
        except NonFiniteOutput as err:
            raise NonFiniteOutput(f"the {m} model ({models[m].name}) {err}") from None
        for a in cfg.attack:
            by_attack[a][m] = per[a]
    return by_attack


def run_transfer(
    cfg: Config, models: dict[str, LoadedModel], images: ImageSet, settings: SweepSettings
) -> dict[tuple[str, str], TransferCounts] | None:
    """Each model on the other's adversarial images (the primary attack); None with ``--no-transfer``."""
    if not cfg.transfer:
        return None
    return transfer({m: models[m].module for m in MODELS}, _pixels(images), images.labels, settings)


def run_fgsm_curve(cfg: Config, models: dict[str, LoadedModel], images: ImageSet) -> dict | None:
    """FGSM accuracy of both models on a fine eps grid (Linf attacks only); None when off."""
    counts = fgsm_counts(cfg, models, images)
    return None if counts is None else curve_results(counts[0], _lists(counts[1]), len(images))


def fgsm_counts(
    cfg: Config, models: dict[str, LoadedModel], images: ImageSet
) -> tuple[list[float], dict[str, np.ndarray]] | None:
    """The FGSM curve's grid and its correct counts per model (counts of shards add up)."""
    grid = eps_grid(cfg.eps, cfg.fgsm_grid) if any(NORMS[a] == "linf" for a in cfg.attack) else []
    if not grid:
        return None
    return grid, {
        m: fgsm_curve(models[m].module, _pixels(images), images.labels, grid, cfg.batch_size, cfg.device)
        for m in MODELS
    }


def _lists(correct: dict[str, np.ndarray]) -> dict[str, list]:
    return {m: c.tolist() for m, c in correct.items()}


def run_patching(
    cfg: Config,
    models: dict[str, LoadedModel],
    images: ImageSet,
    analyses: dict[str, ModelAnalysis],
    settings: SweepSettings,
) -> dict | None:
    """Per model and non-zero eps, the damage undone by patching ranked, random and whole-layer
    channel sets (``rnnviz.measures.patching``); None with ``--patch none``."""
    plans = patch_plans(cfg, analyses)
    return summarize_patching(cfg, patch_counts(cfg, models, images, plans, settings))


def patch_plans(cfg: Config, analyses: dict[str, ModelAnalysis]) -> dict[str, dict] | None:
    """Per model, eps index -> the channel sets to patch (from the merged analysis); None when off."""
    ladder = patch_ladder(cfg.patch)
    if not ladder:
        return None
    return {
        m: {
            e: patching.plan(analyses[m], e, ladder, cfg.patch_draws, cfg.seed, cfg.rank_by)
            for e, eps in enumerate(cfg.eps)
            if eps > 0
        }
        for m in MODELS
    }


def patch_counts(
    cfg: Config, models: dict[str, LoadedModel], images: ImageSet, plans: dict | None, settings: SweepSettings
) -> dict[str, dict[int, patching.PatchCounts]] | None:
    """Per model, eps index -> the patching counts over ``images`` (counts of shards merge)."""
    if plans is None:
        return None
    return {
        m: patching.patch_sweep(models[m].module, _pixels(images), images.labels, settings, plans[m], cfg.patch_share)
        for m in MODELS
    }


def summarize_patching(cfg: Config, counts: dict[str, dict[int, patching.PatchCounts]] | None) -> dict | None:
    if counts is None:
        return None
    return {
        m: [patching.summarize(counts[m][e]) if e in counts[m] else None for e in range(len(cfg.eps))] for m in MODELS
    }


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


def _layer_channel(key: str) -> tuple[str, int]:
    """``"layer3.1:17"`` (results.json's key) -> ``("layer3.1", 17)``."""
    layer, _, channel = key.rpartition(":")
    return layer, int(channel)


# ------------------------------------------------------------------ shards


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


def merge_analyses(shards: list[dict[str, dict[str, ModelAnalysis]]]) -> dict[str, dict[str, ModelAnalysis]]:
    """attack -> model -> analysis of every shard (rank order = image order) -> the whole's.
    One shard is returned as it is, so a single process keeps its numbers bit for bit."""
    if len(shards) == 1:
        return shards[0]
    attacks = list(shards[0])
    out: dict[str, dict[str, ModelAnalysis]] = {a: {} for a in attacks}
    for m in MODELS:
        whole = concat_attacks([{a: shard[a][m] for a in attacks} for shard in shards])
        for a in attacks:
            out[a][m] = whole[a]
    return out


def merge_transfer(parts: list[Any]) -> dict | None:
    """(source, target) -> TransferCounts of every shard, summed in rank order."""
    if parts[0] is None or len(parts) == 1:
        return parts[0]
    whole = copy.deepcopy(parts[0])
    for part in parts[1:]:
        for pair, counts in part.items():
            whole[pair].merge(counts)
    return whole


def merge_curve(parts: list) -> tuple[list[float], dict[str, np.ndarray]] | None:
    """The FGSM curve's counts of every shard, summed."""
    if parts[0] is None:
        return None
    grid = parts[0][0]
    return grid, {m: sum((p[1][m] for p in parts), np.zeros(len(grid), dtype=np.int64)) for m in MODELS}


def merge_patch_counts(parts: list) -> dict | None:
    """model -> eps index -> PatchCounts of every shard, merged in rank order."""
    if parts[0] is None or len(parts) == 1:
        return parts[0]
    whole = copy.deepcopy(parts[0])
    for part in parts[1:]:
        for m, per_eps in part.items():
            for e, counts in per_eps.items():
                whole[m][e].merge(counts)
    return whole


# ------------------------------------------------------------------ the whole job


def run(cfg: Config, progress: bool = True, dist: Distributed | None = None) -> Path:
    """Run every stage for ``cfg`` and return the finished report folder (without the report
    itself: ``render_report`` writes that from the folder).

    Under torchrun every rank calls ``run``: each measures its shard of the images, rank 0 merges
    the shards, writes the folder and shows progress; the renders are split across the ranks.

    Args:
        cfg: a validated ``Config``; it is not modified.
        progress: show progress bars on stderr (rank 0 only).
        dist: the job's ranks (``rnnviz.sweep.distributed.session``); opened from torchrun's
            environment when not given (one process outside torchrun).
    Returns:
        The folder holding results.json, data/*.csv and figures/ (on every rank).
    """
    if dist is not None:
        return _run(cfg, progress, dist)
    with session() as ctx:
        return _run(cfg, progress, ctx)


def _checked(cfg: Config, ctx: Distributed) -> Config:
    """``cfg`` validated, with this rank's device (``cuda`` under torchrun: cuda:LOCAL_RANK)."""
    validate(cfg)
    check_sources(cfg)
    work = replace(cfg, device=ctx.device(cfg.device))
    check_device(work.device)
    if cfg.quality != "none":
        check_render_cache()
    return work


def _load_models(cfg: Config, ctx: Distributed) -> dict[str, LoadedModel]:
    """Rank 0 loads (and downloads) first; the others then load from the warm cache."""
    first = ctx.stage("loading the models", lambda: load_pair(cfg) if ctx.is_main else None)
    return ctx.stage("loading the models", lambda: first if first is not None else load_pair(cfg))


def _chosen_layers(cfg: Config, models: dict[str, LoadedModel], images: ImageSet) -> list[str]:
    layers = choose_layers(cfg, models)
    check_top_k(cfg, models["standard"], layers, images)
    return layers


def _path(folder) -> Path:
    assert folder is not None, "rank 0 holds the folder"
    return folder.path


def _run(cfg: Config, progress: bool, ctx: Distributed) -> Path:
    t0 = time.perf_counter()
    main, progress = ctx.is_main, progress and ctx.is_main
    work = ctx.stage("checks", lambda: _checked(cfg, ctx))
    models = _load_models(work, ctx)
    images = ctx.stage("loading the images", lambda: load_images(work, models["standard"], lazy=True, ctx=ctx))
    layers = ctx.stage("checking the layers", lambda: _chosen_layers(work, models, images))
    resolved, work = replace(cfg, layers=layers), replace(work, layers=layers)
    span = ctx.shard(len(images))
    part = shard_images(images, span) if ctx.world > 1 else images
    with ExitStack() as stack:
        folder: Any = ctx.stage(
            "claiming the output folder",
            lambda: (
                stack.enter_context(claim(cfg.out, resolved.to_json(), cfg.preset + "-" + "-".join(cfg.classes)))
                if main
                else None
            ),
        )
        out = ctx.share("claiming the output folder", lambda: _path(folder))
        timings = {"load_s": round(time.perf_counter() - t0, 3)}

        t = time.perf_counter()
        examples = choose_examples(images.labels, images.class_indices, cfg.n_examples)
        mine = [i - span.start for i in examples if i in span]
        settings = sweep_settings(work, layers, mine, images.class_indices, span.start)
        shards: Any = ctx.gather("the attack", lambda: run_analysis(work, models, part, settings, progress, ctx.world))
        by_attack: Any = ctx.stage("merging the attack", lambda: merge_analyses(shards) if shards else None)
        timings["attack_s"] = round(time.perf_counter() - t, 3)
        chosen = ctx.share("choosing the primary attack", lambda: primary.choose(cfg, by_attack))
        cfg, resolved, work = (primary.first(c, chosen["name"]) for c in (cfg, resolved, work))

        t = time.perf_counter()
        plain = sweep_settings(work, layers, first_index=span.start)
        side: Any = ctx.gather(
            "transfer", lambda: (run_transfer(work, models, part, plain), fgsm_counts(work, models, part))
        )
        timings["transfer_s"] = round(time.perf_counter() - t, 3)

        t = time.perf_counter()
        plans = ctx.share("planning the patching", lambda: patch_plans(cfg, by_attack[cfg.primary_attack]))
        patch_settings = sweep_settings(work, layers, (), images.class_indices, span.start)
        counts: Any = ctx.gather("patching", lambda: patch_counts(work, models, part, plans, patch_settings))
        timings["patch_s"] = round(time.perf_counter() - t, 3)

        def write_measurements() -> dict:
            analyses = by_attack[cfg.primary_attack]
            transferred = merge_transfer([s[0] for s in side])
            curve = merge_curve([s[1] for s in side])
            results = build_results(resolved, models, images, analyses, timings)
            results["patching"] = summarize_patching(cfg, merge_patch_counts(counts))
            if ctx.world > 1:
                results["environment"]["world_size"] = ctx.world
            display = models["standard"].labels.display
            results["attacks"] = attack_results(
                resolved,
                by_attack,
                images.class_indices,
                display,
                transferred,
                curve and curve_results(curve[0], _lists(curve[1]), len(images)),
            )
            results["context"] = context(resolved)
            results["primary_attack"] = chosen
            results["source"] = capacity(resolved, models["standard"].labels, images.class_indices)
            results["examples"] = write_examples(out, results, images, analyses, models["standard"].labels)
            t = time.perf_counter()
            results["exemplars"] = write_cards(
                out,
                results,
                {m: models[m].module for m in MODELS},
                _pixels(images),
                images.labels,
                analyses,
                attack_name=cfg.primary_attack,
                pgd=PGDSettings(cfg.pgd_steps, cfg.pgd_step_size),
                seed=cfg.seed,
                device=work.device,
            )
            timings["cards_s"] = round(time.perf_counter() - t, 3)
            results["data_files"] = write_tables(out, results, analyses, by_attack)
            write_results(out, results)
            return results

        results: Any = ctx.stage("writing the results", lambda: write_measurements() if main else None)

        if cfg.quality != "none":
            t = time.perf_counter()
            if ctx.world == 1:
                results["renders"] = galleries.render_galleries(resolved, out, models, results, progress, images=images)
            else:
                jobs = ctx.share("planning the renders", lambda: galleries.render_jobs(work, models, results, images))
                shares = ctx.gather("rendering", lambda: galleries.render_share(work, models, jobs, ctx, progress))
                rendered = ctx.stage(
                    "writing the renders", lambda: galleries.write_shared_renders(out, jobs, shares) if shares else None
                )
                if main:
                    results["renders"] = rendered
            if main:
                timings["render_s"] = round(time.perf_counter() - t, 3)
            ctx.stage("writing the results", lambda: write_results(out, results) if main else None)
        ctx.stage("finishing", lambda: folder.finish() if main else None)
    return out
