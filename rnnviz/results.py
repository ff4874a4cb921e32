"""results.json, data/*.csv and the example images: the engine's whole output.

The renderer reads only what is written here (see docs/results-schema.md), so a
report can be rebuilt from a folder without torch doing any work.
"""
from __future__ import annotations

import csv
import io
import platform
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import __version__
from .analysis import ModelAnalysis, sweet_spot
from .fileio import atomic_path, atomic_write_bytes, atomic_write_json
from .names import MODELS, SCHEMA_VERSION


# ------------------------------------------------------------------ results.json

def build_results(cfg, models: dict, images, analyses: dict[str, ModelAnalysis], timings: dict) -> dict:
    """Everything the report shows, as plain JSON (per-eps lists aligned with config.eps)."""
    labels = models["standard"].labels
    class_indices = images.class_indices
    labels_np = images.labels.numpy()
    names = {i: labels.display(i) for i in class_indices}
    return {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now().isoformat(timespec="seconds"),
        "config": {**cfg.to_json(), "data": images.description},
        "models": {m: models[m].describe() for m in MODELS},
        "label_set": labels.name,
        "classes": [{"name": names[i], "index": i, "n_images": images.count(i)} for i in class_indices],
        "n_images": len(images),
        "accuracy": {m: analyses[m].accuracy for m in MODELS},
        "accuracy_per_class": {m: {names[i]: analyses[m].accuracy_for(labels_np == i) for i in class_indices}
                               for m in MODELS},
        "sweet_spot": sweet_spot(analyses["standard"], analyses["robust"]),
        "layer_sensitivity": {m: analyses[m].layer_sensitivity() for m in MODELS},
        "top_channels": {m: analyses[m].top(cfg.top_k) for m in MODELS},
        "channel_max_activation": {m: _max_activation_of_top(analyses[m], cfg.top_k) for m in MODELS},
        "neuron_sensitivity": {m: [{f"{layer}:{ch}": grid.tolist() for (layer, ch), grid in per.items()}
                                   for per in analyses[m].neuron_maps] for m in MODELS},
        "examples": [],
        "renders": [],
        "data_files": {},
        "warnings": _warnings(models, images),
        "environment": environment(cfg.device),
        "timings": timings,
    }


def _max_activation_of_top(analysis: ModelAnalysis, k: int) -> dict[str, float]:
    tops = {(row["layer"], row["channel"]) for per_eps in analysis.top(k) for row in per_eps}
    return {f"{layer}:{ch}": float(analysis.max_activation[layer][ch]) for layer, ch in sorted(tops)}


def _warnings(models, images) -> list[str]:
    notes = []
    for m in MODELS:
        notes += [f"{m} model: {n}" for n in models[m].notes]
        if models[m].pickle_used:
            notes.append(f"{m} model was loaded from a full pickle (--trust-pickle)")
    if images.skipped:
        notes.append(f"skipped {len(images.skipped)} unreadable image(s): {', '.join(images.skipped[:5])}")
    return notes


def environment(device: str) -> dict:
    import torchvision

    try:
        from importlib.metadata import version

        lucent = version("torch-lucent")
    except Exception:
        lucent = "not installed"
    return {"rnnviz": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "lucent": lucent, "python": sys.version.split()[0], "device": device,
            "platform": platform.platform(), "threads": torch.get_num_threads()}


def write_results(out: Path, results: dict) -> Path:
    path = out / "results.json"
    atomic_write_json(path, results)
    return path


# ------------------------------------------------------------------ CSV tables

def write_tables(out: Path, results: dict, analyses: dict[str, ModelAnalysis]) -> dict[str, str]:
    """The numbers behind every figure, one CSV each; returns name -> relative path."""
    eps = results["config"]["eps"]
    tables = {
        "accuracy": (["eps", "standard", "robust"],
                     [[e, results["accuracy"]["standard"][i], results["accuracy"]["robust"][i]]
                      for i, e in enumerate(eps)]),
        "accuracy_per_class": (["class", "eps", "standard", "robust"],
                               [[c["name"], e, results["accuracy_per_class"]["standard"][c["name"]][i],
                                 results["accuracy_per_class"]["robust"][c["name"]][i]]
                                for c in results["classes"] for i, e in enumerate(eps)]),
        "layer_sensitivity": (["model", "eps", "layer", "sensitivity"],
                              [[m, eps[i], layer, v] for m in MODELS
                               for i, per in enumerate(results["layer_sensitivity"][m]) for layer, v in per.items()]),
        "top_channels": (["model", "eps", "rank", "layer", "channel", "sensitivity"],
                         [[m, eps[i], r + 1, row["layer"], row["channel"], row["sensitivity"]] for m in MODELS
                          for i, per in enumerate(results["top_channels"][m]) for r, row in enumerate(per)]),
        "channel_sensitivity": (["model", "eps", "layer", "channel", "sensitivity"],
                                [[m, eps[i], layer, ch, float(v)] for m in MODELS
                                 for i, per in enumerate(analyses[m].channels) for layer, s in per.items()
                                 for ch, v in enumerate(s.tolist())]),
    }
    if any(results["neuron_sensitivity"][m][0] for m in MODELS):
        tables["neuron_sensitivity"] = (["model", "eps", "channel", "y", "x", "sensitivity"],
                                        [[m, eps[i], key, y, x, v] for m in MODELS
                                         for i, per in enumerate(results["neuron_sensitivity"][m])
                                         for key, grid in per.items() for y, row in enumerate(grid)
                                         for x, v in enumerate(row)])
    files = {}
    for name, (header, rows) in tables.items():
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([[_cell(v) for v in row] for row in rows])
        atomic_write_bytes(out / "data" / f"{name}.csv", buf.getvalue().encode())
        files[name] = f"data/{name}.csv"
    return files


def _cell(v):
    return repr(float(v)) if isinstance(v, (float, np.floating)) else v


# ------------------------------------------------------------------ example images

def save_png(tensor: torch.Tensor, path: Path) -> None:
    """(3, H, W) in [0, 1] -> 8-bit PNG, atomically."""
    arr = (tensor.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")


def write_examples(out: Path, results: dict, images, analyses: dict[str, ModelAnalysis], labels) -> list[dict]:
    """Clean image, each model's adversarial image and amplified perturbation, per eps."""
    eps = results["config"]["eps"]
    examples = []
    for n, index in enumerate(sorted(analyses["standard"].examples)):
        clean = images.images[index]
        true = int(images.labels[index])
        stem = f"figures/examples/ex{n:02d}"
        save_png(clean, out / f"{stem}_clean.png")
        by_eps = []
        for e, eps_value in enumerate(eps):
            entry = {"eps": eps_value}
            for m in MODELS:
                adv = analyses[m].examples[index][e]
                delta = 0.5 + (adv - clean) / (2 * eps_value) if eps_value > 0 else torch.full_like(clean, 0.5)
                save_png(adv, out / f"{stem}_eps{e}_{m}.png")
                save_png(delta, out / f"{stem}_eps{e}_{m}_delta.png")
                pred = int(analyses[m].pred[e, index])
                entry[m] = {"image": f"{stem}_eps{e}_{m}.png", "perturbation": f"{stem}_eps{e}_{m}_delta.png",
                            "pred_index": pred, "pred": labels.display(pred),
                            "confidence": float(analyses[m].confidence[e, index]), "correct": pred == true}
            by_eps.append(entry)
        examples.append({"class": labels.display(true), "true_index": true, "true_label": labels.display(true),
                         "source": Path(images.sources[index]).name, "image": f"{stem}_clean.png",
                         "by_eps": by_eps})
    return examples


def choose_examples(labels: torch.Tensor, class_indices: list[int], per_class: int) -> list[int]:
    """The first ``per_class`` images of each class (the sample order is already seeded)."""
    chosen = []
    for index in class_indices:
        chosen += torch.nonzero(labels == index).flatten()[:per_class].tolist()
    return chosen
