"""The report's example images: clean, adversarial and amplified perturbation, per eps and model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rnnviz.common.files import atomic_path, text_name
from rnnviz.common.names import MODELS, eps_slugs
from rnnviz.sweep.analysis import ModelAnalysis


def save_png(tensor: torch.Tensor, path: Path) -> None:
    """(3, H, W) in [0, 1] -> 8-bit PNG, atomically."""
    arr = (tensor.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")


def write_examples(out: Path, cfg, images, analyses: dict[str, ModelAnalysis], labels) -> list[dict]:
    """Clean image, each model's adversarial image and amplified perturbation, per eps of ``cfg``."""
    eps = cfg.eps
    slugs = eps_slugs(cfg.to_json())
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
                save_png(adv, out / f"{stem}_{slugs[e]}_{m}.png")
                save_png(delta, out / f"{stem}_{slugs[e]}_{m}_delta.png")
                pred = int(analyses[m].pred[e, index])
                entry[m] = {
                    "image": f"{stem}_{slugs[e]}_{m}.png",
                    "perturbation": f"{stem}_{slugs[e]}_{m}_delta.png",
                    "pred_index": pred,
                    "pred": labels.display(pred),
                    "confidence": float(analyses[m].confidence[e, index]),
                    "correct": pred == true,
                }
            by_eps.append(entry)
        examples.append(
            {
                "class": labels.display(true),
                "true_index": true,
                "true_label": labels.display(true),
                "source": text_name(Path(images.sources[index]).name),
                "image": f"{stem}_clean.png",
                "by_eps": by_eps,
            }
        )
    return examples


def choose_examples(labels: torch.Tensor, class_indices: list[int], per_class: int) -> list[int]:
    """The first ``per_class`` images of each class (the sample order is already seeded)."""
    chosen = []
    for index in class_indices:
        chosen += torch.nonzero(labels == index).flatten()[:per_class].tolist()
    return chosen
