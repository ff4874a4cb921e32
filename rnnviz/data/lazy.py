"""A stream's images as the engine reads a tensor: ``LazyImages`` decodes only what is asked for.

The stream itself (``rnnviz.data.stream``) is the index and its batches; this is the view
``rnnviz.run`` hands the engine (and ``ImageKeeper``, the clean images of a few chosen indices),
so a run's memory is flat in the number of its images.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import torch

from rnnviz.data.images import ImageSet
from rnnviz.data.stream import Batch, ImageStream, plan_batches


class LazyImages:
    """A block of a stream's images that reads like the tensor ``ImageSet.images`` (the same values,
    bit for bit) for what the engine reads: ``len``, contiguous slices, single images and index lists.
    Pixels are decoded per request, so at most a batch exists (plus the workers' prefetch).

    The engine's passes read ``view[a : a + batch_size]`` in order. A full batch that is not the one
    expected next starts a ``DataLoader`` over the rest of the block, in ``workers`` processes that
    decode ahead while the model computes; later slices come from it (slices it would have yielded
    in between are skipped). Anything else (a short slice, an index, an index list) is decoded here.
    """

    def __init__(self, stream: ImageStream, span: range | None = None, batch_size: int = 32, workers: int = 0):
        self.stream, self.batch_size, self.workers = stream, batch_size, workers
        self.span = range(len(stream)) if span is None else span
        self._ahead: Generator[Batch, None, None] | None = None
        self._next = 0  # the local start of the batch ``_ahead`` yields next

    def __len__(self) -> int:
        return len(self.span)

    def shard(self, span: range) -> LazyImages:
        """The view of ``span`` (local indices) of this block: a shard, still undecoded."""
        return LazyImages(self.stream, self.span[span.start : span.stop], self.batch_size, self.workers)

    def __getitem__(self, key: Any) -> torch.Tensor:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step == 1 and stop > start:
                return self._slice(start, stop)
            return self._at(range(start, stop, step))
        if isinstance(key, torch.Tensor) and key.dtype == torch.bool:
            key = key.nonzero().flatten()
        if isinstance(key, torch.Tensor | np.ndarray) and key.ndim == 0 or isinstance(key, int | np.integer):
            return self._at([int(key)])[0]
        return self._at([int(i) for i in key])

    def _slice(self, start: int, stop: int) -> torch.Tensor:
        """Contiguous images ``start .. stop``: from the read-ahead loader when a pass asks for them."""
        full = min(start + self.batch_size, len(self))
        lag = start - self._next
        if stop != full or self._ahead is None or lag < 0 or lag % self.batch_size:
            if stop - start != self.batch_size:
                return self._at(range(start, stop))
            self.close()
            plan = plan_batches(self.span[start:], self.batch_size)
            self._ahead, self._next, lag = self.stream.load(plan, self.workers), start, 0
        assert self._ahead is not None
        for _ in range(lag // self.batch_size + 1):
            batch = next(self._ahead)
        self._next = stop
        if stop == len(self):
            self.close()  # the pass is done: let the workers go
        return batch.images

    def _at(self, indices: Sequence[int]) -> torch.Tensor:
        """Images by local index, decoded here (negative indices count from the end, as a tensor's)."""
        n = len(self)
        for i in indices:
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for {n} images")
        if not indices:
            return self._at([0])[:0] if n else torch.empty(0)
        return self.stream.images_at([self.span[i] for i in indices])

    def close(self) -> None:
        """Stop the read-ahead loader (and its worker processes), if one runs."""
        if self._ahead is not None:
            self._ahead.close()
        self._ahead = None

    def __del__(self) -> None:
        if getattr(self, "_ahead", None) is not None:
            self.close()


def lazy_set(stream: ImageStream, batch_size: int = 32, workers: int = 0) -> ImageSet:
    """``stream`` as an ``ImageSet`` whose ``images`` is a ``LazyImages`` view of all of it."""
    return ImageSet(
        LazyImages(stream, None, batch_size, workers),
        stream.labels,
        stream.class_indices,
        stream.sources,
        stream.description,
        stream.skipped,
        stream.notes,
    )


class ImageKeeper:
    """The clean images of a few chosen global indices, picked up as the batches go by (the
    ``ExampleKeeper`` pattern: ``add`` per batch, ``merge`` across ranks)."""

    def __init__(self, indices: Sequence[int]):
        self.images: dict[int, torch.Tensor | None] = {int(i): None for i in indices}

    def add(self, batch: Batch) -> None:
        for i in self.images:
            if batch.start <= i < batch.start + len(batch.images):
                self.images[i] = batch.images[i - batch.start].clone()  # not a view pinning the batch

    def merge(self, other: ImageKeeper) -> ImageKeeper:
        for i, image in other.images.items():
            if image is not None:
                self.images[i] = image
        return self

    def stacked(self) -> dict[int, torch.Tensor]:
        missing = [i for i, image in self.images.items() if image is None]
        if missing:
            raise ValueError(f"images {missing} were never in a batch (merge every shard first)")
        return {i: image for i, image in self.images.items() if image is not None}
