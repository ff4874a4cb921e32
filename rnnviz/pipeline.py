"""The whole job, stage by stage: models -> images -> attack + sensitivity -> renders -> folder.

Each stage writes what it finished before the next starts (results.json is rewritten after the
attack and again after the renders), so an interrupted run loses nothing that is done, and the
render cache makes a rerun with the same settings resume where it stopped. ``run`` changes
neither its ``Config`` nor any global state (every random draw has its own generator).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from . import galleries, patching
from .analysis import ModelAnalysis, NonFiniteOutput, SweepSettings, analyze_attacks
from .attack_results import attack_results, context, curve_results
from .attacks import PGDSettings
from .cache import cache_dir
from .cards import write_cards
from .config import Config, check_sources, patch_ladder, validate
from .curves import eps_grid, fgsm_curve
from .data import ImageSet, Preprocess, load_builtin_sample, load_folder
from .errors import UsageError
from .examples import choose_examples, write_examples
from .hooks import channel_counts, check_layers
from .models import LoadedModel, load_model
from .names import MODELS, NORMS
from .results import build_results, write_results
from .runfolder import claim
from .tables import write_tables
from .transfer import TransferCounts, transfer

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


def load_images(cfg: Config, model: LoadedModel) -> ImageSet:
    """The images of ``cfg.classes`` (``cfg.n_images`` per class), preprocessed for ``model``.

    Returns:
        ``ImageSet``: images (N, 3, H, W) in [0, 1], labels, class indices, sources.
    """
    class_indices = resolve_classes(cfg, model)
    if cfg.data == "builtin":
        return load_builtin_sample(class_indices, cfg.n_images, cfg.seed)
    prep = Preprocess(model.input_size, model.resize)
    assert cfg.data is not None, "check_sources names the missing data folder first"
    return load_folder(Path(cfg.data), model.labels, class_indices, cfg.n_images, cfg.seed, prep, cfg.label)


def choose_layers(cfg: Config, models: dict[str, LoadedModel]) -> list[str]:
    """``cfg.layers``, or the standard model's default layers; checked to exist in both models."""
    layers = cfg.layers or models["standard"].default_layers
    for m in MODELS:
        check_layers(models[m].module, layers)
    return list(layers)


def sweep_settings(
    cfg: Config, layers: list[str], examples: Sequence[int] = (), classes: Sequence[int] = ()
) -> SweepSettings:
    """The engine's settings for ``cfg``: one object, shared by both models."""
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
    cfg: Config, models: dict[str, LoadedModel], images: ImageSet, settings: SweepSettings, progress: bool = True
) -> dict[str, dict[str, ModelAnalysis]]:
    """Attack both models with every attack of ``cfg`` (attack -> model -> analysis); a NaN names
    the model that produced it."""
    by_attack: dict[str, dict[str, ModelAnalysis]] = {a: {} for a in cfg.attack}
    for m in MODELS:
        try:
            per = analyze_attacks(
                models[m].module,
                images.images,
                images.labels,
                settings,
                cfg.attack,
                progress=f"{'+'.join(cfg.attack).upper()} {m}" if progress else None,
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
    return transfer({m: models[m].module for m in MODELS}, images.images, images.labels, settings)


def run_fgsm_curve(cfg: Config, models: dict[str, LoadedModel], images: ImageSet) -> dict | None:
    """FGSM accuracy of both models on a fine eps grid (Linf attacks only); None when off."""
    grid = eps_grid(cfg.eps, cfg.fgsm_grid) if any(NORMS[a] == "linf" for a in cfg.attack) else []
    if not grid:
        return None
    correct = {
        m: fgsm_curve(models[m].module, images.images, images.labels, grid, cfg.batch_size, cfg.device).tolist()
        for m in MODELS
    }
    return curve_results(grid, correct, len(images))


def run_patching(
    cfg: Config,
    models: dict[str, LoadedModel],
    images: ImageSet,
    analyses: dict[str, ModelAnalysis],
    settings: SweepSettings,
) -> dict | None:
    """Per model and non-zero eps, the damage undone by patching ranked, random and whole-layer
    channel sets (``rnnviz.patching``); None with ``--patch none``."""
    ladder = patch_ladder(cfg.patch)
    if not ladder:
        return None
    out = {}
    for m in MODELS:
        plans = {
            e: patching.plan(analyses[m], e, ladder, cfg.patch_draws, cfg.seed)
            for e, eps in enumerate(cfg.eps)
            if eps > 0
        }
        counts = patching.patch_sweep(models[m].module, images.images, images.labels, settings, plans, cfg.patch_share)
        out[m] = [patching.summarize(counts[e]) if e in counts else None for e in range(len(cfg.eps))]
    return out


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


# ------------------------------------------------------------------ the whole job


def run(cfg: Config, progress: bool = True) -> Path:
    """Run every stage for ``cfg`` and return the finished report folder (without the report
    itself: ``render_report`` writes that from the folder).

    Args:
        cfg: a validated ``Config``; it is not modified.
        progress: show progress bars on stderr.
    Returns:
        The folder holding results.json, data/*.csv and figures/.
    """
    t0 = time.perf_counter()
    validate(cfg)
    check_sources(cfg)
    check_device(cfg.device)
    if cfg.quality != "none":
        check_render_cache()
    models = load_pair(cfg)
    images = load_images(cfg, models["standard"])
    layers = choose_layers(cfg, models)
    check_top_k(cfg, models["standard"], layers, images)
    resolved = replace(cfg, layers=layers)
    with claim(cfg.out, resolved.to_json(), cfg.preset + "-" + "-".join(cfg.classes)) as folder:
        out = folder.path
        timings = {"load_s": round(time.perf_counter() - t0, 3)}

        t = time.perf_counter()
        examples = choose_examples(images.labels, images.class_indices, cfg.n_examples)
        by_attack = run_analysis(
            cfg, models, images, sweep_settings(cfg, layers, examples, images.class_indices), progress
        )
        analyses = by_attack[cfg.primary_attack]
        timings["attack_s"] = round(time.perf_counter() - t, 3)

        t = time.perf_counter()
        transferred = run_transfer(cfg, models, images, sweep_settings(cfg, layers))
        curve = run_fgsm_curve(cfg, models, images)
        timings["transfer_s"] = round(time.perf_counter() - t, 3)

        t = time.perf_counter()
        patched = run_patching(cfg, models, images, analyses, sweep_settings(cfg, layers, (), images.class_indices))
        timings["patch_s"] = round(time.perf_counter() - t, 3)

        results = build_results(resolved, models, images, analyses, timings)
        results["patching"] = patched
        display = models["standard"].labels.display
        results["attacks"] = attack_results(resolved, by_attack, images.class_indices, display, transferred, curve)
        results["context"] = context(resolved)
        results["examples"] = write_examples(out, results, images, analyses, models["standard"].labels)
        t = time.perf_counter()
        results["exemplars"] = write_cards(
            out,
            results,
            {m: models[m].module for m in MODELS},
            images.images,
            images.labels,
            analyses,
            attack_name=cfg.primary_attack,
            pgd=PGDSettings(cfg.pgd_steps, cfg.pgd_step_size),
            seed=cfg.seed,
            device=cfg.device,
        )
        timings["cards_s"] = round(time.perf_counter() - t, 3)
        results["data_files"] = write_tables(out, results, analyses)
        write_results(out, results)

        if cfg.quality != "none":
            t = time.perf_counter()
            results["renders"] = galleries.render_galleries(resolved, out, models, results, progress, images=images)
            timings["render_s"] = round(time.perf_counter() - t, 3)
            write_results(out, results)
        folder.finish()
    return out
