"""results.json: everything the engine measured, as plain JSON (data/*.csv: ``tables``).

The renderer reads only what is written here (see docs/results-schema.md), so a
report can be rebuilt from a folder without torch doing any work.
"""

from __future__ import annotations

import platform
import sys
from datetime import datetime
from pathlib import Path

import torch

from rnnviz import __version__
from rnnviz.common.files import atomic_write_json, text_values
from rnnviz.common.names import MODELS, SCHEMA_VERSION, channel_key, shown_spec
from rnnviz.measures.ranking import EpsRanking, compare
from rnnviz.measures.sweet_spot import sweet_spot
from rnnviz.sweep.analysis import ModelAnalysis

# ------------------------------------------------------------------ results.json


def build_results(cfg, models: dict, images, analyses: dict[str, ModelAnalysis], timings: dict) -> dict:
    """Everything the report shows, as plain JSON (per-eps lists aligned with config.eps)."""
    labels = models["standard"].labels
    class_indices = images.class_indices
    labels_np = images.labels.numpy()
    names = {i: labels.display(i) for i in class_indices}
    ranking, comparison = rank(cfg, analyses, [names[i] for i in class_indices])
    return {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now().isoformat(timespec="seconds"),
        "config": shown_config(cfg, images),
        "models": {m: models[m].describe() for m in MODELS},
        "label_set": labels.name,
        "classes": [{"name": names[i], "index": i, "n_images": images.count(i)} for i in class_indices],
        "n_images": len(images),
        "accuracy": {m: analyses[m].accuracy for m in MODELS},
        "accuracy_per_class": {
            m: {names[i]: analyses[m].accuracy_for(labels_np == i) for i in class_indices} for m in MODELS
        },
        "sweet_spot": sweet_spot(analyses["standard"], analyses["robust"]),
        "layer_sensitivity": {
            m: [layers if e > 0 else {} for e, layers in zip(cfg.eps, analyses[m].layer_sensitivity())] for m in MODELS
        },
        "top_channels": {m: [r["top"] if r else [] for r in ranking[m]] for m in MODELS},
        "ranking": ranking,
        "comparison": comparison,
        "bootstrap": {"resamples": cfg.bootstrap, "level": 0.95, "noise": noise_words(analyses)},
        "noise_match": {m: noise_match(analyses[m], cfg.primary_attack) for m in MODELS},
        "channel_max_activation": {m: _max_activation_of_top(analyses[m], ranking[m]) for m in MODELS},
        "neuron_sensitivity": {
            m: [
                {channel_key(layer, ch): grid.tolist() for (layer, ch), grid in per.items()}
                for per in analyses[m].neuron_maps
            ]
            for m in MODELS
        },
        "patching": None,  # filled by the patching pass (rnnviz.measures.patching)
        "examples": [],
        "renders": [],
        "data_files": {},
        "warnings": _warnings(models, images),
        "environment": environment(cfg.device),
        "timings": timings,
    }


def shown_config(cfg, images) -> dict:
    """results.json's config: no path of this machine (the data folder by description, the output
    folder not at all, checkpoint files by name: ``shown_spec``)."""
    shown = {**cfg.to_json(), "data": images.description, "out": None}
    shown["standard"], shown["robust"] = shown_spec(cfg.standard), shown_spec(cfg.robust)
    if shown.get("replicate"):
        shown["replicate"] = [shown_spec(s) for s in shown["replicate"]]
    return shown


def rank(cfg, analyses: dict[str, ModelAnalysis], class_names: list[str]) -> tuple[dict, list]:
    """Per model and non-zero eps the ranking with its stability; per eps the cross-model ratio.
    At eps = 0 nothing moves (sigma is 0 by construction), so there is nothing to rank: None."""
    rankings = {
        m: [EpsRanking(analyses[m], e, cfg.rank_by) if eps > 0 else None for e, eps in enumerate(cfg.eps)]
        for m in MODELS
    }
    ranking = {m: [r.summary(cfg.top_k, class_names) if r else None for r in rankings[m]] for m in MODELS}
    comparison = [compare(s, r) if s and r else None for s, r in zip(rankings["standard"], rankings["robust"])]
    return ranking, comparison


def noise_words(analyses: dict[str, ModelAnalysis]) -> str:
    """The noise baseline in words, as the models' fronts made it (rnnviz.sweep.noise)."""
    gray = all((a.front or {}).get("shared_across_channels") for a in analyses.values())
    where = "one sign per pixel shared by the colour channels" if gray else "a random sign per pixel and channel"
    return f"random-sign noise, {where}, scaled per image to the attack's measured mean |δ| in the model's input"


def noise_match(analysis: ModelAnalysis, attack: str) -> dict | None:
    """How the model reads its input and, per eps, the mean |δ| and L2 of every perturbation in it
    (``noise`` and ``gauss``: the controls sized to ``attack``, the one that drives the analysis)."""
    if analysis.inputs is None:
        return None
    return {
        **(analysis.front or {}),
        "sizes": [analysis.inputs.means(e, attack) if eps > 0 else None for e, eps in enumerate(analysis.eps)],
    }


def _max_activation_of_top(analysis: ModelAnalysis, ranking: list) -> dict[str, float]:
    tops = {(row["layer"], row["channel"]) for per_eps in ranking if per_eps for row in per_eps["top"]}
    return {channel_key(layer, ch): float(analysis.max_activation[layer][ch]) for layer, ch in sorted(tops)}


def same_model_note(models: dict) -> str | None:
    """Two roles given the same weights run (a comparison of a model with itself is a sanity check),
    but every difference the report shows between them is then noise: said up front and in results."""
    standard, robust = models["standard"], models["robust"]
    if standard.sha256 != robust.sha256:
        return None
    return (
        f"the standard and robust models are the same weights ({standard.source}, sha256 {standard.sha256[:12]}); "
        "every difference between them is noise: give two different models to compare"
    )


def _warnings(models, images) -> list[str]:
    notes = [note] if (note := same_model_note(models)) else []
    for m in MODELS:
        notes += [f"{m} model: {n}" for n in models[m].notes]
        if models[m].pickle_used:
            notes.append(f"{m} model was loaded from a full pickle (--trust-pickle)")
    notes += images.notes
    if images.skipped:
        notes.append(skipped_note(images.skipped))
    return notes


def skipped_note(skipped: list[str], where: str = "") -> str:
    """results.json's warning for files a run could not read (the first five named)."""
    return f"{where}skipped {len(skipped)} unreadable image(s): {', '.join(skipped[:5])}"


def environment(device: str) -> dict:
    import torchvision

    try:
        from importlib.metadata import version

        lucent = version("torch-lucent")
    except Exception:
        lucent = "not installed"
    return {
        "rnnviz": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "lucent": lucent,
        "python": sys.version.split()[0],
        "device": device,
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
    }


def write_results(out: Path, results: dict) -> Path:
    """Every string as text (``text_values``): a name from the data folder may hold bytes that are not UTF-8."""
    path = out / "results.json"
    atomic_write_json(path, text_values(results))
    return path
