"""The whole job, stage by stage: models -> images -> attack + sensitivity -> renders -> report.

Each stage writes what it finished before the next starts (results.json is rewritten
after the attack and again after the renders), so an interrupted run loses nothing
that is done, and the render cache makes a rerun resume where it stopped.
"""
from __future__ import annotations

import re
import shutil
import time
from datetime import date
from pathlib import Path

import torch

from .analysis import ModelAnalysis, NonFiniteOutput, analyze
from .cache import INCOMPLETE_MARKER, atomic_path
from .attacks import PGDSettings
from .config import Config, check_sources
from .data import ImageSet, Preprocess, load_builtin_sample, load_folder
from .errors import UsageError
from .models import LoadedModel, check_layers, check_same_labels, load_model
from .sensitivity import LayerRecorder
from .results import (MODELS, build_results, choose_examples, write_examples, write_results,
                      write_tables)

# ------------------------------------------------------------------ stages

def load_pair(cfg: Config) -> dict[str, LoadedModel]:
    """Both models, on ``cfg.device``, checked to share one label set."""
    models = {m: load_model(getattr(cfg, m), arch=cfg.arch, trust_pickle=cfg.trust_pickle, device=cfg.device)
              for m in MODELS}
    check_same_labels(models["standard"], models["robust"])
    return models


def resolve_classes(cfg: Config, model: LoadedModel) -> list[int]:
    indices = [model.labels.resolve(c) for c in cfg.classes]
    if len(set(indices)) < len(indices):
        raise UsageError(f"--classes names one class twice ({', '.join(cfg.classes)}); give each class once")
    return indices


def load_images(cfg: Config, model: LoadedModel, class_indices: list[int]) -> ImageSet:
    if cfg.data == "builtin":
        return load_builtin_sample(class_indices, cfg.n_images, cfg.seed)
    prep = Preprocess(model.input_size, model.resize)
    return load_folder(Path(cfg.data), model.labels, class_indices, cfg.n_images, cfg.seed, prep, cfg.label)


def choose_layers(cfg: Config, models: dict[str, LoadedModel]) -> list[str]:
    layers = cfg.layers or models["standard"].default_layers
    for m in MODELS:
        check_layers(models[m].module, layers)
    return layers


def check_top_k(cfg: Config, model: LoadedModel, layers: list[str], images: ImageSet) -> None:
    """top-k ranks channels across all chosen layers; it cannot exceed their count."""
    with torch.no_grad(), LayerRecorder(model.module, layers) as rec:
        model.module(images.images[:1].to(cfg.device))
        counts = {name: out.shape[1] for name, out in rec.take().items()}
    total = sum(counts.values())
    if cfg.top_k > total:
        raise UsageError(f"--top-k {cfg.top_k} is more than the {total} channels in the chosen layers; "
                         f"use at most {total}")
    for layer, channel in map(_layer_channel, cfg.neurons or []):
        if layer not in counts or channel >= counts[layer]:
            raise UsageError(f"--neurons {layer}:{channel} is not a channel of an analysed layer; add the "
                             f"layer to --layers and use a channel below its width")


def run_analysis(cfg: Config, models: dict[str, LoadedModel], images: ImageSet, layers: list[str],
                 examples: list[int], progress: bool = True) -> dict[str, ModelAnalysis]:
    settings = PGDSettings(cfg.pgd_steps, cfg.pgd_step_size)
    neurons = [_layer_channel(n) for n in cfg.neurons or []]
    analyses = {}
    for m in MODELS:
        try:
            analyses[m] = analyze(models[m].module, images.images, images.labels, cfg.eps, layers=layers,
                                  attack=cfg.attack, pgd_settings=settings, batch_size=cfg.batch_size,
                                  seed=cfg.seed, examples=examples, neurons=neurons, device=cfg.device,
                                  progress=f"{cfg.attack.upper()} {m}" if progress else None)
        except NonFiniteOutput as err:
            raise NonFiniteOutput(f"the {m} model ({models[m].name}) {err}") from None
    return analyses


def render_galleries(cfg: Config, out: Path, models: dict[str, LoadedModel], results: dict,
                     progress: bool = True) -> list[dict]:
    """Render the union of top-k channels over all eps, once per model and recipe."""
    from .featvis import render_channels

    entries = []
    for m in MODELS:
        channels = sorted({(r["layer"], r["channel"]) for per in results["top_channels"][m] for r in per},
                          key=lambda lc: (layers_order(results, lc[0]), lc[1]))
        max_act = {_layer_channel(key): v for key, v in results["channel_max_activation"][m].items()}
        for recipe in cfg.recipes:
            renders = render_channels(models[m].module, channels, model_id=models[m].sha256,
                                      input_size=models[m].input_size, recipe=recipe, quality=cfg.quality,
                                      seed=cfg.seed, device=cfg.device, grayscale=models[m].grayscale,
                                      diversity=cfg.diversity, max_activation=max_act,
                                      progress=f"render {m} ({recipe})" if progress else None)
            entries += [_copy_render(out, m, r) for r in renders]
    return entries


def _layer_channel(key: str) -> tuple[str, int]:
    """``"layer3.1:17"`` (results.json's key) -> ``("layer3.1", 17)``."""
    layer, _, channel = key.rpartition(":")
    return layer, int(channel)


def _copy(src: Path, dest: Path) -> None:
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def layers_order(results: dict, layer: str) -> int:
    names = results["config"]["layers"] or []
    return names.index(layer) if layer in names else len(names)


def _copy_render(out: Path, model: str, render) -> dict:
    stem = f"figures/renders/{model}_{_slug(render.layer)}_{render.channel}_{render.recipe}"
    (out / "figures" / "renders").mkdir(parents=True, exist_ok=True)
    _copy(render.png, out / f"{stem}.png")
    diversity = []
    for i, path in enumerate(render.diversity):
        _copy(path, out / f"{stem}_div{i}.png")
        diversity.append(f"{stem}_div{i}.png")
    return {"model": model, "layer": render.layer, "channel": render.channel, "recipe": render.recipe,
            "image": f"{stem}.png", "relative_activation": render.relative_activation,
            "final_activation": render.final_activation, "dead": render.dead, "diversity": diversity}


# ------------------------------------------------------------------ output folder

def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _is_free(out: Path) -> bool:
    """A folder may be (re)used when absent, empty, or left by an interrupted rnnviz run."""
    if not out.exists():
        return True
    return out.is_dir() and (not any(out.iterdir()) or (out / INCOMPLETE_MARKER).exists())


def output_folder(cfg: Config) -> Path:
    """``--out`` must not hold a finished report; the default gets a numbered suffix instead."""
    if cfg.out:
        out = Path(cfg.out)
        if not _is_free(out):
            raise UsageError(f"output folder {out} already exists; choose another --out (nothing was overwritten)")
    else:
        base = Path("reports") / f"{date.today().isoformat()}-{_slug(cfg.preset + '-' + '-'.join(cfg.classes))[:60]}"
        out, n = base, 1
        while not _is_free(out):
            n += 1
            out = base.with_name(f"{base.name}-{n}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / INCOMPLETE_MARKER).write_bytes(b"")
    except OSError as err:
        raise UsageError(f"cannot write to output folder {out} ({err.strerror}); choose a writable --out") from None
    return out


# ------------------------------------------------------------------ the whole job

def run(cfg: Config, progress: bool = True) -> Path:
    """Run every stage for ``cfg`` and return the report folder."""
    t0 = time.perf_counter()
    check_sources(cfg)
    torch.manual_seed(cfg.seed)
    models = load_pair(cfg)
    class_indices = resolve_classes(cfg, models["standard"])
    layers = choose_layers(cfg, models)
    images = load_images(cfg, models["standard"], class_indices)
    check_top_k(cfg, models["standard"], layers, images)
    out = output_folder(cfg)
    cfg.layers = layers
    timings = {"load_s": round(time.perf_counter() - t0, 3)}

    t = time.perf_counter()
    examples = choose_examples(images.labels, class_indices, cfg.n_examples)
    analyses = run_analysis(cfg, models, images, layers, examples, progress)
    timings["attack_s"] = round(time.perf_counter() - t, 3)

    results = build_results(cfg, models, images, analyses, class_indices, timings)
    results["examples"] = write_examples(out, results, images, analyses, models["standard"].labels)
    results["data_files"] = write_tables(out, results, analyses)
    write_results(out, results)

    if cfg.quality != "none":
        t = time.perf_counter()
        results["renders"] = render_galleries(cfg, out, models, results, progress)
        timings["render_s"] = round(time.perf_counter() - t, 3)
        write_results(out, results)
    return out
