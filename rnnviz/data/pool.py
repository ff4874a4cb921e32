"""The exemplar pool: images of the source's other classes, seen by the cards' clean exemplars only.

A channel's best real images need not belong to the classes a run analyses (a standard model that
sends most adversarial predictions to "shirt" has channels a shirt excites best). With
``--exemplar-pool all`` the run also streams every other class of its source (the built-in
sample's ten classes, or every class the data folder holds) through a clean forward pass of each
model, into the same bounded top-n (``rnnviz.sweep.exemplars``). Only the clean exemplar lists
change; every measurement (σ, accuracy, rankings, the renders' targets) stays on the analysed images.

Bounded: at most ``n_per_class`` images of each pool class (the run's ``--n-images``), chosen
exactly as the analysed images are (same seed rule), so the pool is a stream of known size whose
global indices follow the analysed images' (``offset`` = their count).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from rnnviz.data.builtin import stream_builtin
from rnnviz.data.images import Preprocess, Selection, find_class_files
from rnnviz.data.stream import CheckPlan, ImageStream, stream_folder
from rnnviz.models.labels import LabelSet

FASHION_CLASSES = 10  # the built-in sample's classes (Fashion-MNIST)


@dataclass
class ExemplarPool:
    """The pool's images as a stream, after the ``offset`` analysed images in global index order."""

    stream: ImageStream
    offset: int
    per_class: int

    def __len__(self) -> int:
        return len(self.stream)

    @property
    def class_indices(self) -> list[int]:
        return list(self.stream.class_indices)


def source_classes(data: str, labels: LabelSet, label: str | None = None) -> list[int]:
    """Every class the source holds images of: the built-in sample's ten, or the folder's classes
    (its class folders or labels.csv rows; ``label``: a one-class folder)."""
    if data == "builtin":
        return list(range(FASHION_CLASSES))
    found = find_class_files(Path(data), labels, list(range(len(labels))), label)
    return sorted(index for index, files in found.items() if files)


def pool_classes(data: str, labels: LabelSet, chosen: Sequence[int], label: str | None = None) -> list[int]:
    """The source's classes that are not analysed: the pool's."""
    return [c for c in source_classes(data, labels, label) if c not in set(chosen)]


def exemplar_pool(
    data: str, labels: LabelSet, analysed: Selection, prep: Preprocess, offset: int, *, check: CheckPlan = CheckPlan()
) -> ExemplarPool | None:
    """The pool of a run whose analysed images are ``analysed``: the source's other classes, chosen by
    the same rule (None when the source has no class beyond the analysed ones)."""
    classes = pool_classes(data, labels, analysed.class_indices, analysed.label)
    if not classes:
        return None
    n_per_class = analysed.n_per_class
    if data == "builtin":
        stream = stream_builtin(classes, n_per_class, analysed.seed)
    else:
        stream = stream_folder(Path(data), labels, replace(analysed, class_indices=classes), prep, check=check)
    return ExemplarPool(stream, offset, n_per_class) if len(stream) else None


class PooledImages:
    """The analysed images and the pool's by one global index: what a card reads its pictures from
    (index < ``len(images)``: an analysed image; from there on, the pool's, decoded on request)."""

    def __init__(self, images, labels: torch.Tensor, pool: ExemplarPool | None):
        self.images, self.labels, self.pool = images, labels, pool

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, int):
            return self.at([key])[0]
        return self.at([int(i) for i in key])

    def at(self, indices: Sequence[int]) -> torch.Tensor:
        """The images of ``indices`` (global), stacked in that order."""
        n = len(self.images)
        if all(i < n for i in indices):
            return self.images[list(indices)]
        if self.pool is None:
            raise IndexError(f"image {max(indices)} is beyond the {n} analysed images and there is no pool")
        parts = [self.images[[i]] if i < n else self.pool.stream.images_at([i - n]) for i in indices]
        return torch.cat(parts)

    def label(self, index: int) -> int:
        """The class index of global image ``index``."""
        n = len(self.labels)
        if index < n:
            return int(self.labels[index])
        assert self.pool is not None, "a pool index needs the pool"
        return int(self.pool.stream.labels[index - n])
