"""results.json: everything the engine measured, as plain JSON, assembled and written here only
(data/*.csv: ``tables``, written beside it).

The renderer reads only what is written here (see docs/results-schema.md), so a report can be
rebuilt from a folder without torch doing any work. The stages hand over typed pieces
(``rnnviz.results.parts``); ``assemble`` sets every key once, ``write_results`` writes the file.
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
from rnnviz.measures import patching, strong
from rnnviz.measures.sweet_spot import sweet_spot
from rnnviz.results.attack_entries import attack_results, context, curve_results
from rnnviz.results.model import Results
from rnnviz.results.parts import ByAttack, Findings, Measured, PatchCounts, Pictures, Run
from rnnviz.results.replication import replication_results
from rnnviz.results.source import capacity
from rnnviz.results.tables import write_tables
from rnnviz.sweep.analysis import ModelAnalysis


def assemble(run: Run, measured: Measured, found: Findings, pictures: Pictures, timings: dict) -> dict:
    """results.json, every key set here once (per-eps lists aligned with config.eps); ``data_files`` is
    added by ``write_results``, which writes the tables it names."""
    cfg, images = run.cfg, run.images
    labels = run.models["standard"].labels
    analyses = measured.by_attack[cfg.primary_attack]
    names = {i: labels.display(i) for i in images.class_indices}
    labels_np = images.labels.numpy()
    return {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now().isoformat(timespec="seconds"),
        "config": shown_config(cfg, images),
        "models": {m: run.models[m].describe() for m in MODELS},
        "label_set": labels.name,
        "classes": [{"name": names[i], "index": i, "n_images": images.count(i)} for i in images.class_indices],
        "n_images": len(images),
        "accuracy": {m: analyses[m].accuracy for m in MODELS},
        "accuracy_per_class": {
            m: {names[i]: analyses[m].accuracy_for(labels_np == i) for i in images.class_indices} for m in MODELS
        },
        "sweet_spot": sweet_spot(analyses["standard"], analyses["robust"]),
        "layer_sensitivity": {
            m: [layers if e > 0 else {} for e, layers in zip(cfg.eps, analyses[m].layer_sensitivity())] for m in MODELS
        },
        "top_channels": {m: found.top(m) for m in MODELS},
        "ranking": found.ranking,
        "comparison": found.comparison,
        "bootstrap": {"resamples": cfg.bootstrap, "level": 0.95, "noise": noise_words(analyses)},
        "noise_match": {m: noise_match(analyses[m], cfg.primary_attack) for m in MODELS},
        "channel_max_activation": {
            m: {channel_key(layer, ch): v for (layer, ch), v in found.shown[m].peaks.items()} for m in MODELS
        },
        "neuron_sensitivity": {m: _neuron_maps(analyses[m]) for m in MODELS},
        "patching": summarize_patching(len(cfg.eps), measured.patch_counts),
        "examples": pictures.examples,
        "renders": pictures.renders,
        "warnings": _warnings(run),
        "environment": environment(cfg.device, run.world),
        "timings": timings,
        "attacks": _attacks(run, measured),
        "context": context(cfg),
        "exemplars": pictures.exemplars,
        "primary_attack": measured.primary,
        "source": capacity(cfg, labels, images.class_indices),
        "matching": found.matching,
        "strong_attack": strong.strong_results(strong.run_plan(cfg), measured.strong),
        "replication": replication_results(run, measured, found),
    }


def _neuron_maps(analysis: ModelAnalysis) -> list[dict]:
    return [{channel_key(la, ch): grid.tolist() for (la, ch), grid in per.items()} for per in analysis.neuron_maps]


def _attacks(run: Run, measured: Measured) -> dict:
    curve = measured.curve
    return attack_results(
        run.cfg,
        measured.by_attack,
        run.images.class_indices,
        run.models["standard"].labels.display,
        measured.transferred,
        curve and curve_results(curve[0], {m: c.tolist() for m, c in curve[1].items()}, len(run.images)),
    )


def summarize_patching(n_eps: int, counts: PatchCounts | None) -> dict | None:
    """Per model and eps the patching summary (None where nothing was patched); None when off."""
    if counts is None:
        return None
    return {m: [patching.summarize(counts[m][e]) if e in counts[m] else None for e in range(n_eps)] for m in MODELS}


def shown_config(cfg, images) -> dict:
    """results.json's config: no path of this machine (the data folder by description, the output
    folder not at all, checkpoint files by name: ``shown_spec``)."""
    shown = {**cfg.to_json(), "data": images.description, "out": None}
    shown["standard"], shown["robust"] = shown_spec(cfg.standard), shown_spec(cfg.robust)
    if shown.get("replicate"):
        shown["replicate"] = [shown_spec(s) for s in shown["replicate"]]
    return shown


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


def _warnings(run: Run) -> list[str]:
    models, images = run.models, run.images
    notes = [note] if (note := same_model_note(models)) else []
    for m in MODELS:
        notes += [f"{m} model: {n}" for n in models[m].notes]
        if models[m].pickle_used:
            notes.append(f"{m} model was loaded from a full pickle (--trust-pickle)")
    notes += images.notes
    if images.skipped:
        notes.append(skipped_note(images.skipped))
    return notes + list(run.notes)


def skipped_note(skipped: list[str], where: str = "") -> str:
    """results.json's warning for files a run could not read (the first five named)."""
    return f"{where}skipped {len(skipped)} unreadable image(s): {', '.join(skipped[:5])}"


def environment(device: str, world: int = 1) -> dict:
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
        **({"world_size": world} if world > 1 else {}),
    }


def write_results(out: Path, results: dict, by_attack: ByAttack) -> dict:
    """The folder's one writer of its numbers: data/*.csv from ``results`` (and, for the per-channel
    tables, the analyses of every attack), then results.json naming them; returns what was written.
    Every string is written as text (``text_values``): a name from the data folder may hold bytes
    that are not UTF-8."""
    primary = by_attack[results["config"]["attack"][0]]  # Config.primary_attack
    written = text_values({**results, "data_files": write_tables(out, results, primary, by_attack)})
    Results.model_validate(written)  # the one definition of the file: the engine writes nothing it refuses
    atomic_write_json(out / "results.json", written)
    return written
