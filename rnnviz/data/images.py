"""Images for the chosen classes, as one [0, 1] RGB tensor both models share.

Layouts read from ``--data DIR``:
  * one folder per class, named by synset (``n02007558/``, the ImageNet validation layout),
    class name (``flamingo/``) or index (``130/``); ImageNet-100-style subsets keep the
    label set's own indices because folders are resolved by name, never re-numbered;
  * a flat folder with ``labels.csv`` (``file,label`` rows, label as name, synset or index);
  * a flat folder of one's own photos with ``label=`` given (``--label flamingo``).
The built-in Fashion-MNIST sample (``builtin``) needs no folder at all.
"""

from __future__ import annotations

import logging
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image, ImageOps

from rnnviz.common.errors import UsageError
from rnnviz.common.files import strict_images, text_name
from rnnviz.data.inside import files_from_csv, held_inside
from rnnviz.models.labels import LabelSet

log = logging.getLogger(__name__)

MAX_RESIZED_CROPS = 64  # a resized image may hold this many crops' worth of pixels (aspect ratio up to ~50:1)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


class ImageView(Protocol):
    """What a run reads of its images: a tensor's ``len``, slices, single images and index lists
    (``rnnviz.data.stream.LazyImages`` decodes just those, so a run's memory is flat in its images)."""

    def __len__(self) -> int: ...

    def __getitem__(self, key: Any) -> torch.Tensor: ...


@dataclass
class ImageSet:
    """``images`` (N, 3, H, W) float in [0, 1], ``labels`` (N,) label-set indices. ``images`` is a
    tensor, or (``rnnviz.run``) a view of a stream that decodes what it is asked for."""

    images: torch.Tensor | ImageView
    labels: torch.Tensor
    class_indices: list[int]
    sources: list[str]
    description: str
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the report must say about the sample

    def __len__(self) -> int:
        return len(self.labels)

    def count(self, class_index: int) -> int:
        return int((self.labels == class_index).sum())


@dataclass(frozen=True)
class Preprocess:
    """Per-model preprocessing: shorter side to ``resize`` (if any), centre crop ``size``."""

    size: int
    resize: int | None = None


# ------------------------------------------------------------------ single images


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode (L, LA, P, RGBA, CMYK, I;16, I, F) to 8-bit RGB; transparency onto white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA"):
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img.convert("RGBA"), mask=img.convert("RGBA").getchannel("A"))
        return background
    return img.convert("RGB")


def load_image(path: Path, prep: Preprocess) -> torch.Tensor:
    """Decode, convert, resize and crop one file to a (3, size, size) tensor in [0, 1]."""
    return to_tensor(fit(decode(path, prep), prep))


def decode(path: Path, prep: Preprocess, check_only: bool = False) -> Image.Image:
    """Every step of ``load_image`` that can fail on a bad file: open, decode, orient, to RGB.

    What is left after it (resize, crop, to tensor) cannot fail on a decoded RGB image, so a file
    ``decode`` accepts is one ``load_image`` reads: the stream's up-front check relies on that.
    ``check_only`` decodes a JPEG at its smallest DCT scale (1/8): every byte of the compressed data
    is still read, so the same files fail, for about half the time of a full decode.
    """
    with strict_images(), Image.open(path) as opened:
        check_cost(opened.size, prep)  # from the header: nothing is decoded yet
        # JPEG: decode no larger than needed (fast for huge files; a check needs no pixels at all)
        opened.draft("RGB", (1, 1) if check_only else (prep.resize or prep.size,) * 2)
        return to_rgb(ImageOps.exif_transpose(opened))  # a decoded copy, independent of the file


class CostlyImage(ValueError):
    """A file whose preprocessing would cost far more than the crop the model sees (skipped, named)."""


def resized(size: tuple[int, int], resize: int) -> tuple[int, int]:
    """(width, height) of an image of ``size`` with its shorter side scaled to ``resize``."""
    scale = resize / min(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def check_cost(size: tuple[int, int], prep: Preprocess) -> None:
    """Refuse, before decoding, an image whose resize would hold more than ``MAX_RESIZED_CROPS`` crops'
    worth of pixels. Pillow's decompression-bomb bound counts decoded pixels, and a thin image has few
    (a 102-byte 20000 x 1 PNG has 20,000): resized to a 256 px shorter side it becomes 5,120,000 x 256,
    3.9 GB. ``ImageOps.fit`` (no ``resize``) crops before it resizes, so only ``resize`` can blow up."""
    if not prep.resize or min(size) < 1:
        return
    width, height = resized(size, prep.resize)
    if width * height > MAX_RESIZED_CROPS * prep.size**2:
        raise CostlyImage(
            f"{size[0]}x{size[1]} px, too elongated: resizing it to a {prep.resize} px side would take "
            f"{width}x{height} px for a {prep.size} px crop"
        )


def fit(img: Image.Image, prep: Preprocess) -> Image.Image:
    """Shorter side to ``prep.resize`` then centre crop, or (no resize) scale-and-crop to fill."""
    if prep.resize:
        img = img.resize(resized(img.size, prep.resize), Image.Resampling.BILINEAR)
        return _center_crop(img, prep.size)
    return ImageOps.fit(img, (prep.size, prep.size), Image.Resampling.BILINEAR)


def to_tensor(img: Image.Image) -> torch.Tensor:
    """8-bit RGB to (3, H, W) float32 in [0, 1]; numpy, so no torch thread pool wakes per image
    (bit-identical to ``.float() / 255``: both are one correctly rounded float32 division)."""
    arr = np.ascontiguousarray(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1), dtype=np.float32)
    arr /= np.float32(255.0)
    return torch.from_numpy(arr)


def _center_crop(img: Image.Image, size: int) -> Image.Image:
    if min(img.size) < size:
        img = img.resize((max(size, img.width), max(size, img.height)), Image.Resampling.BILINEAR)
    left, top = (img.width - size) // 2, (img.height - size) // 2
    return img.crop((left, top, left + size, top + size))


# ------------------------------------------------------------------ folders


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def find_class_files(
    root: Path, labels: LabelSet, class_indices: list[int], label: str | None = None
) -> dict[int, list[Path]]:
    """Map each wanted class index to its image files under ``root``."""
    if not root.is_dir():
        raise UsageError(f"data folder not found: {root}; pass --data with a folder of images")
    if label is not None:
        return {labels.resolve(label): list_images(root)}
    csv_path = root / "labels.csv"
    if csv_path.is_file():
        return files_from_csv(root, csv_path, labels, class_indices)
    found: dict[int, list[Path]] = {i: [] for i in class_indices}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        index = labels.resolve_folder(sub.name)
        if index in found:
            found[index] += list_images(sub)
    return found


def _check_regular(path: Path) -> None:
    """Never open a FIFO or a device: reading one can block forever."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise OSError(f"{path.name} is not a regular file")


def read_image(path: Path, prep: Preprocess) -> torch.Tensor:
    """``load_image`` of a regular file (what a folder run reads per image)."""
    _check_regular(path)
    return load_image(path, prep)


def check_image(path: Path, prep: Preprocess) -> None:
    """Raise exactly where ``read_image`` would, without the resize and crop."""
    _check_regular(path)
    decode(path, prep, check_only=True)


def skip_note(path: Path, err: BaseException) -> str:
    """How a skipped file is listed in the warning and the report (its name as text, ``text_name``; a
    costly image says why). Every failed read comes through here, so a ``MemoryError`` (this machine's
    limit, not the file's fault, once reported as a file that vanished mid-run) is raised on instead of
    becoming a skip."""
    if isinstance(err, MemoryError):
        raise err
    return f"{text_name(path.name)} ({err if isinstance(err, CostlyImage) else type(err).__name__})"


def sample_files(files: list[Path], n: int, seed: int, class_index: int) -> list[Path]:
    """``n`` files drawn reproducibly: the same seed gives the same images on any machine."""
    if len(files) <= n:
        return files
    rng = np.random.default_rng([seed, class_index])
    return [files[i] for i in sorted(rng.choice(len(files), size=n, replace=False))]


@dataclass(frozen=True)
class ClassFiles:
    """One class's share of a folder run: the files to read, in order, of ``n_found`` found."""

    index: int
    files: list[Path]
    n_found: int
    outside: list[str] = field(default_factory=list)  # skip notes of files behind symlinks leaving the folder


@dataclass(frozen=True)
class Selection:
    """Which images a run reads from its source: up to ``n_per_class`` of each class in
    ``class_indices``, sampled by ``seed``; ``label``: the class of a folder that holds one class's
    images directly (the user's own photos)."""

    class_indices: list[int]
    n_per_class: int
    seed: int
    label: str | None = None


def select_files(root: Path, labels: LabelSet, selection: Selection) -> list[ClassFiles]:
    """Which files a folder run reads, in which order, with which labels (nothing decoded yet)."""
    by_class = find_class_files(Path(root), labels, selection.class_indices, selection.label)
    chosen = []
    for index in selection.class_indices:
        files, outside = held_inside(Path(root), by_class.get(index, []))
        sampled = sample_files(files, selection.n_per_class, selection.seed, index)
        chosen.append(ClassFiles(index, sampled, len(files), outside))
    return chosen


def require_files(root: Path, labels: LabelSet, chosen: ClassFiles) -> None:
    """A class with no image files at all is the user's mistake, named with the folder to make."""
    if not chosen.files:
        raise UsageError(
            f"no images of class '{labels.display(chosen.index)}' under {root}; expected a folder "
            f"named {_folder_hint(labels, chosen.index)} holding its images"
        )


def require_readable(root: Path, labels: LabelSet, chosen: ClassFiles, n_read: int) -> None:
    if n_read == 0:
        raise UsageError(
            f"none of the {chosen.n_found} image file(s) of class '{labels.display(chosen.index)}' under "
            f"{root} could be read; check they are JPEG/PNG images"
        )


def warn_skipped(skipped: list[str], stacklevel: int = 2) -> None:
    """One warning for all unreadable files (the first ten named)."""
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} unreadable image(s): {', '.join(skipped[:10])}"
            f"{' ...' if len(skipped) > 10 else ''}",
            stacklevel=stacklevel + 1,
        )


def _folder_hint(labels: LabelSet, index: int) -> str:
    hint = f"'{labels.names[index]}'"
    if labels.ids:
        hint = f"'{labels.ids[index]}' or {hint}"
    return hint
