"""The built-in sample: the shipped Fashion-MNIST test images, needing no folder at all.

Which rows a run uses (``select_builtin``), how a row becomes pixels, and the sample as a stream
(``stream_builtin``) or decoded (``load_builtin_sample``), like a folder's (``rnnviz.data.stream``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from rnnviz.data.images import ImageSet
from rnnviz.data.stream import ImageStream, eager_set


def select_builtin(class_indices: list[int], n_per_class: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Rows of the shipped Fashion-MNIST sample a run uses, in order, and notes on short classes."""
    from rnnviz.models.labels import FASHION_NAMES
    from rnnviz.models.zoo import load_fashion_sample

    _, labels = load_fashion_sample()
    chosen: list[np.ndarray] = []
    notes: list[str] = []
    for index in class_indices:
        rows = np.flatnonzero(labels == index)
        if len(rows) < n_per_class:
            notes.append(
                f"--n-images {n_per_class}: the built-in sample holds {len(rows)} images of "
                f"{FASHION_NAMES[index]}; all {len(rows)} were used"
            )
        rng = np.random.default_rng([seed, index])
        chosen.append(rows if len(rows) <= n_per_class else np.sort(rng.choice(rows, n_per_class, replace=False)))
    return np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, np.int64), notes


def builtin_source(row: int) -> str:
    return f"fashion-mnist test sample #{row}"


def builtin_pixels(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (..., 28, 28) gray -> float (..., 3, 28, 28) in [0, 1], gray repeated to RGB."""
    x = torch.from_numpy(pixels).float().div(255.0).unsqueeze(-3)
    return x.repeat(*([1] * (x.dim() - 3)), 3, 1, 1)


BUILTIN_DESCRIPTION = "built-in Fashion-MNIST test sample (MIT licence)"


class BuiltinImages(Dataset):
    """The chosen rows of the shipped Fashion-MNIST sample (uint8, a few MB at most)."""

    def __init__(self, pixels: np.ndarray, labels: np.ndarray):
        self.pixels = np.ascontiguousarray(pixels)
        self.labels = np.asarray(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return builtin_pixels(self.pixels[i]), int(self.labels[i])


def stream_builtin(class_indices: list[int], n_per_class: int, seed: int) -> ImageStream:
    """``load_builtin_sample``'s images as a stream (same rows, order, notes)."""
    from rnnviz.models.zoo import load_fashion_sample

    pixels, labels = load_fashion_sample()
    rows, notes = select_builtin(class_indices, n_per_class, seed)
    return ImageStream(
        BuiltinImages(pixels[rows], labels[rows]),
        torch.from_numpy(labels[rows]).long(),
        class_indices,
        [builtin_source(int(i)) for i in rows],
        BUILTIN_DESCRIPTION,
        notes=notes,
    )


def load_builtin_sample(class_indices: list[int], n_per_class: int, seed: int) -> ImageSet:
    """The shipped Fashion-MNIST test sample as RGB 28x28 (gray repeated to three channels), decoded."""
    return eager_set(stream_builtin(class_indices, n_per_class, seed))
