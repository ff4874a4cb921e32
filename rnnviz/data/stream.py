"""The run's images as a stream of batches, for samples too big to hold in memory (ImageNet val: 30 GB).

The one way a run reads its images: ``rnnviz.data.images``'s file selection and decoding, decoded a
batch at a time in ``DataLoader`` workers, so memory is flat in the number of images; only the index
(a path and a label per image) is held. ``load_folder`` (and ``rnnviz.data.builtin``'s
``load_builtin_sample``) are this stream decoded all at once, for small samples.

Global indices are fixed before the first batch: the engine keys per-image randomness and the example
images on them, and ranks shard on them. So unreadable files are found up front, by a check pass that
runs every step of ``load_image`` that can fail (open, decode, orient, convert; not the resize and crop)
and can be split across ranks; they are dropped from the index and listed exactly as ``load_folder``
lists them. A file that breaks after the check (deleted or rewritten mid-run) stops the run with a
``UsageError``: its index is already taken, and silently dropping it would shift every later image.

Sharding: rank r of w gets the contiguous block ``rnnviz.common.shards.shard(n, r, w)`` of global indices, sizes as
``np.array_split`` (differing by at most one), every index exactly once, no padding: unlike
``DistributedSampler``, no image is counted twice. Batches never cross a shard boundary.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate, get_worker_info

from rnnviz.common import shards
from rnnviz.common.errors import UsageError
from rnnviz.data.images import (
    ImageSet,
    Preprocess,
    Selection,
    check_image,
    read_image,
    require_files,
    require_readable,
    select_files,
    skip_note,
    warn_skipped,
)
from rnnviz.models.labels import LabelSet

Shard = tuple[int, int]  # (rank, world size)
Gather = Callable[[list], list[list]]  # every rank's object, in rank order (``all_gather_object``)
CHECK_CHUNK = 64  # files per check task: big enough to keep workers busy, small enough to balance


@dataclass(frozen=True)
class CheckPlan:
    """How the up-front check of every file is split: over ``workers`` processes and, under torchrun,
    this rank's ``shard`` of the files, ``gather`` sharing the ranks' findings (e.g. a wrapper of
    ``torch.distributed.all_gather_object``), so every rank builds the same index for 1/world the work."""

    workers: int = 0
    shard: Shard = (0, 1)
    gather: Gather | None = None

    def __post_init__(self):
        if self.shard[1] > 1 and self.gather is None:
            raise ValueError("a check shard over several ranks needs gather, or each rank misses the others' findings")


def _path_array(paths: Sequence[str | Path]) -> np.ndarray:
    """File system bytes (any file name survives, one byte a character), one buffer for all."""
    return np.array([os.fsencode(p) for p in paths], dtype=np.bytes_)


class Batch(NamedTuple):
    """``images`` (n, 3, H, W) float in [0, 1] and ``labels`` (n,) of global indices ``start`` .. ``start + n``."""

    start: int
    images: torch.Tensor
    labels: torch.Tensor


# ------------------------------------------------------------------ datasets (what a worker decodes)


class FolderImages(Dataset):
    """Image files by global index. Paths live in one numpy bytes array, not a list of objects, so
    forked workers do not copy the index page by page as Python's reference counts touch it."""

    def __init__(self, paths: Sequence[str | Path], labels: Sequence[int], prep: Preprocess):
        self.paths = _path_array(paths)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.prep = prep

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor | str, int]:
        """The image, or the skip note of a file that broke after the check (reported by the caller)."""
        path = Path(os.fsdecode(self.paths[i]))
        try:
            return read_image(path, self.prep), int(self.labels[i])
        except Exception as err:  # any decode error: the caller names the file and stops
            return skip_note(path, err), int(self.labels[i])


class _FileCheck(Dataset):
    """Check tasks: each is a chunk of positions; returns the (position, skip note) of bad files."""

    def __init__(self, paths: np.ndarray, prep: Preprocess, chunks: list[range]):
        self.paths, self.prep, self.chunks = paths, prep, chunks

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, k: int) -> list[tuple[int, str]]:
        bad = []
        for i in self.chunks[k]:
            path = Path(os.fsdecode(self.paths[i]))
            try:
                check_image(path, self.prep)
            except Exception as err:  # PIL raises many types for bad files; all mean "skip it"
                bad.append((i, skip_note(path, err)))
        return bad


def _collate(items: list[tuple[Any, int]]) -> Any:
    """Stack a batch, or pass on the notes of files that broke after the check. A worker stacks
    straight into shared memory (``default_collate``); this process stacks in numpy, since torch's
    multi-threaded copy costs several times as much CPU here (its idle threads spin beside the decoding)."""
    broken = [image for image, _ in items if isinstance(image, str)]
    if broken:
        return broken
    if get_worker_info() is not None:
        return default_collate(items)
    images = torch.from_numpy(np.stack([image.numpy() for image, _ in items]))
    return [images, torch.tensor([label for _, label in items], dtype=torch.long)]


def _as_is(item: Any) -> Any:
    """No collation: each check task's list of findings comes back as it is."""
    return item


class _Blocks(Sampler[list[int]]):
    """Batches as index lists, made one at a time from ranges (no N-long list of ints)."""

    def __init__(self, plan: list[range]):
        self.plan = plan

    def __len__(self) -> int:
        return len(self.plan)

    def __iter__(self) -> Iterator[list[int]]:
        return (list(r) for r in self.plan)


# ------------------------------------------------------------------ the stream


@dataclass
class ImageStream:
    """The run's images by global index, ``ImageSet``'s fields without the pixels.

    ``labels`` and ``sources`` are per-image metadata (a label and a path each, what
    ``choose_examples`` and the report need); pixels exist only a batch at a time.
    """

    dataset: Dataset
    labels: torch.Tensor
    class_indices: list[int]
    sources: list[str]
    description: str
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def count(self, class_index: int) -> int:
        return int((self.labels == class_index).sum())

    def shard(self, rank: int, world: int) -> range:
        return shards.shard(len(self), rank, world)

    def batches(
        self, batch_size: int, workers: int = 0, shard: Shard = (0, 1), pin_memory: bool = False
    ) -> Iterator[Batch]:
        """This shard's images in global order, ``batch_size`` at a time (the shard's last batch may
        be short), decoded by ``workers`` processes (0: in this one)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        yield from self.load(plan_batches(self.shard(*shard), batch_size), workers, pin_memory)

    def load(self, plan: list[range], workers: int = 0, pin_memory: bool = False) -> Generator[Batch, None, None]:
        """The batches of ``plan`` (ranges of global indices), in order, decoded by ``workers`` processes."""
        if not plan:
            return
        loader = DataLoader(
            self.dataset,
            batch_sampler=_Blocks(plan),
            num_workers=workers,
            collate_fn=_collate,
            pin_memory=pin_memory,
        )
        for indices, out in zip(plan, loader, strict=True):
            if isinstance(out, list) and out and isinstance(out[0], str):
                raise UsageError(
                    f"image(s) readable when the run started can no longer be read: {', '.join(out)}; "
                    "the images were indexed then, so restore the file(s) or start the run again"
                )
            images, labels = out
            yield Batch(indices.start, images, labels)

    def images_at(self, indices: Sequence[int]) -> torch.Tensor:
        """A few images by global index, decoded here (the report's examples on rank 0, no gather)."""
        out = _collate([self.dataset[int(i)] for i in indices])
        if isinstance(out, list) and out and isinstance(out[0], str):
            raise UsageError(f"image(s) can no longer be read: {', '.join(out)}; restore them or rerun")
        return out[0]


def plan_batches(block: range, batch_size: int) -> list[range]:
    """``block`` in batches of ``batch_size`` (the last may be short): batches never cross a block."""
    return [range(s, min(s + batch_size, block.stop)) for s in range(block.start, block.stop, batch_size)]


# ------------------------------------------------------------------ building a stream


def find_unreadable(
    paths: Sequence[str | Path], prep: Preprocess, workers: int = 0, shard: Shard = (0, 1)
) -> list[tuple[int, str]]:
    """(position, skip note) of every file in this shard of ``paths`` that ``load_folder`` would skip."""
    arr = _path_array(paths)
    block = shards.shard(len(arr), *shard)
    chunks = [range(s, min(s + CHECK_CHUNK, block.stop)) for s in range(block.start, block.stop, CHECK_CHUNK)]
    if not chunks:
        return []
    loader = DataLoader(_FileCheck(arr, prep, chunks), batch_size=None, num_workers=workers, collate_fn=_as_is)
    return [item for bad in loader for item in bad]


def stream_folder(
    root: Path, labels: LabelSet, selection: Selection, prep: Preprocess, *, check: CheckPlan = CheckPlan()
) -> ImageStream:
    """``load_folder``'s images as a stream: same files, order, labels, skip list, warning and errors;
    the up-front check of every file is split as ``check`` says."""
    root = Path(root)
    chosen = select_files(root, labels, selection)
    for part in chosen:
        require_files(root, labels, part)
    paths = [path for part in chosen for path in part.files]
    found = find_unreadable(paths, prep, check.workers, check.shard)
    bad = dict(item for rank_found in (check.gather(found) if check.gather else [found]) for item in rank_found)
    keep: list[Path] = []
    targets: list[int] = []
    skipped: list[str] = []
    position = 0
    for part in chosen:
        skipped += part.outside
        before = len(keep)
        for path in part.files:
            if position in bad:
                skipped.append(bad[position])
            else:
                keep.append(path)
                targets.append(part.index)
            position += 1
        require_readable(root, labels, part, len(keep) - before)
    warn_skipped(skipped)
    return ImageStream(
        FolderImages(keep, targets, prep),
        torch.tensor(targets, dtype=torch.long),
        selection.class_indices,
        [str(p) for p in keep],
        f"image folder '{root.name}'",
        skipped,
    )


def eager_set(stream: ImageStream) -> ImageSet:
    """``stream`` with every image decoded into one tensor (small samples, tests, benchmarks)."""
    pixels = stream.images_at(range(len(stream))) if len(stream) else torch.zeros(0, 3, 0, 0)
    return ImageSet(
        pixels, stream.labels, stream.class_indices, stream.sources, stream.description, stream.skipped, stream.notes
    )


def load_folder(root: Path, labels: LabelSet, selection: Selection, prep: Preprocess) -> ImageSet:
    """``stream_folder``'s images, all decoded: up to ``selection.n_per_class`` of each class,
    unreadable files skipped and listed once."""
    return eager_set(stream_folder(root, labels, selection, prep))
