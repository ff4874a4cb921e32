"""The exemplar pool's images (``rnnviz.data.pool``): every class of the source beyond the chosen
ones, at most n per class, chosen by the analysed images' own rule, and read by one global index."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from rnnviz.data.builtin import stream_builtin
from rnnviz.data.images import Preprocess, Selection
from rnnviz.data.pool import PooledImages, exemplar_pool, pool_classes, source_classes
from rnnviz.models.labels import fashion_labels

PREP = Preprocess(28, None)


def test_the_builtin_pool_is_every_other_class_capped_per_class():
    chosen = [7, 2]
    pool = exemplar_pool("builtin", fashion_labels(), Selection(chosen, 6, 0), PREP, offset=12)
    assert pool is not None and pool.offset == 12 and pool.per_class == 6
    assert pool.class_indices == [0, 1, 3, 4, 5, 6, 8, 9]
    counts = np.bincount(pool.stream.labels.numpy(), minlength=10)
    assert counts[chosen].sum() == 0 and set(counts[pool.class_indices].tolist()) == {6}  # bounded: n per class
    same = stream_builtin(pool.class_indices, 6, 0)  # the analysed images' selection rule, same seed
    assert pool.stream.sources == same.sources
    assert exemplar_pool("builtin", fashion_labels(), Selection(list(range(10)), 6, 0), PREP, offset=60) is None


def _folder(root, classes: dict[str, int]) -> None:
    for name, n in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (28, 28), (10 * i, 5 * len(name), 200)).save(root / name / f"{i}.png")


def test_a_folder_pool_is_its_other_classes_capped_per_class(tmp_path):
    _folder(tmp_path, {"sneaker": 3, "bag": 5, "trouser": 2})
    labels = fashion_labels()
    assert source_classes(str(tmp_path), labels) == [1, 7, 8]
    assert pool_classes(str(tmp_path), labels, [7]) == [1, 8]
    pool = exemplar_pool(str(tmp_path), labels, Selection([7], 4, 0), PREP, offset=3)
    assert pool is not None
    assert sorted(pool.stream.labels.tolist()) == [1, 1, 8, 8, 8, 8]  # bag capped at 4, trouser has 2
    assert pool_classes(str(tmp_path), labels, [7], label="sneaker") == []  # a one-class folder


def test_pooled_images_read_analysed_then_pool_images_by_global_index():
    pool = exemplar_pool("builtin", fashion_labels(), Selection([7], 2, 0), PREP, offset=4)
    assert pool is not None
    analysed = torch.rand(4, 3, 28, 28)
    labels = torch.tensor([7, 7, 7, 7])
    pooled = PooledImages(analysed, labels, pool)
    assert torch.equal(pooled[[1, 3]], analysed[[1, 3]])
    got = pooled[[5, 0]]
    assert torch.equal(got[0], pool.stream.images_at([1])[0]) and torch.equal(got[1], analysed[0])
    assert torch.equal(pooled[4], pool.stream.images_at([0])[0])
    assert pooled.label(2) == 7 and pooled.label(4) == int(pool.stream.labels[0]) != 7
