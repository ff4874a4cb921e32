"""The render cache: one folder per (settings, layer, channel) under ``cache_dir("renders")``.

An entry is PNGs plus ``meta.json``, written last, so meta.json's presence means complete.
The cache outlives any one run and may be damaged (disk full, killed runs, hand edits), so
an entry is used only if every value the renderer reads has the right type and every image
decodes; anything else is named in one warning, removed and rendered again, instead of
failing every later run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rnnviz.common.cache import cache_dir
from rnnviz.common.errors import UsageError
from rnnviz.common.files import PART_SUFFIX, atomic_path, atomic_write_json, key_digest, strict_images
from rnnviz.common.names import STOPS

STALE_PART_S = 3600  # a .part file this old belongs to no live writer: a killed run left it


class RenderCache:
    """The entries of one ``render_channels`` call (one settings dict)."""

    def __init__(
        self,
        settings: dict,
        seed_digests: dict[tuple[str, int], str] | None = None,
        targets: dict[tuple[str, int], float | None] | None = None,
    ):
        self.settings = settings
        self.seed_digests = seed_digests or {}  # accent: (layer, channel) -> its seed image's digest
        self.targets = targets or {}  # (layer, channel) -> the activation its render stops at
        try:
            self.root = cache_dir("renders")
        except OSError as exc:
            raise _not_writable(exc.filename or "the render cache") from None
        self.damaged: list[Path] = []

    def entry(self, layer: str, channel: int) -> Path:
        """The entry's folder: a digest of the settings, the channel, its target (the render stops
        there, so another target is other pixels) and (accent) its seed image."""
        digest = self.seed_digests.get((layer, channel))
        seed = {"seed_image": digest} if digest is not None else {}
        target = self.targets.get((layer, channel))
        return self.root / key_digest(layer=layer, channel=channel, target=target, **self.settings, **seed)

    def load(self, layer: str, channel: int) -> dict | None:
        """The entry's metadata if it is complete and valid; ``None`` means render it."""
        entry = self.entry(layer, channel)
        if not entry.exists() and not entry.is_symlink():
            return None
        if entry.is_dir() and not entry.is_symlink() and not (entry / "meta.json").exists():
            # No meta.json: perhaps another process is writing it right now, so it is not removed;
            # each file is replaced atomically when it is rendered again.
            if any(entry.iterdir()):
                warnings.warn(f"incomplete render cache entry {entry} (no meta.json); rendering it again")
            return None
        try:
            return self._validated(entry)
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
            SyntaxError,
            RecursionError,
            Image.DecompressionBombError,
        ) as exc:
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line
            warnings.warn(f"damaged render cache entry {entry} ({reason}); removing it and rendering it again")
            self.damaged.append(entry)
            return None

    def _validated(self, entry: Path) -> dict:
        if entry.is_symlink() or not entry.is_dir():
            raise ValueError("not a folder")
        meta = json.loads((entry / "meta.json").read_text())
        if not isinstance(meta, dict):
            raise TypeError(f"meta.json holds a {type(meta).__name__}, not an object")
        _check(meta, "image", _is_name)
        _check(meta, "diversity", lambda v: isinstance(v, list) and all(_is_name(n) for n in v))
        if len(meta["diversity"]) != self.settings["diversity"]:
            raise ValueError(f"{len(meta['diversity'])} diversity images, expected {self.settings['diversity']}")
        for key in ("final_activation", "start_activation"):
            _check(meta, key, _is_number)
        _check(meta, "dead", lambda v: isinstance(v, bool))
        _check(meta, "steps_used", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0)
        _check(meta, "stop", lambda v: v in STOPS)
        _check(meta, "losses", lambda v: isinstance(v, list) and all(_is_number(x) for x in v))
        size = (self.settings["size"],) * 2
        for name in [meta["image"], *meta["diversity"]]:
            with strict_images(), Image.open(entry / name) as im:
                im.load()  # decode every pixel: verify() misses some truncations
                if im.size != size:
                    raise ValueError(f"{name} is {im.size[0]}x{im.size[1]} px, expected {size[0]}x{size[1]}")
        return meta

    def prepare(self) -> None:
        """Before the first optimization step: fail now if results could not be saved, sweep
        temporary files of killed runs, and remove the damaged entries about to be rebuilt."""
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise _not_writable(self.root)
        remove_stale_parts(self.root)
        for entry in self.damaged:
            self._remove(entry)
        self.damaged = []

    def _remove(self, entry: Path) -> None:
        """Delete one entry, never anything outside this cache's renders folder."""
        if entry.parent != self.root:
            raise RuntimeError(f"refusing to remove {entry}: not an entry of {self.root}")
        if entry.is_symlink() or entry.is_file():
            entry.unlink(missing_ok=True)
        elif entry.is_dir():
            if entry.resolve().parent != self.root.resolve():
                raise RuntimeError(f"refusing to remove {entry}: it resolves outside {self.root}")
            shutil.rmtree(entry)

    def save(self, layer: str, channel: int, images: list[np.ndarray], meta: dict) -> dict:
        """PNGs first, meta.json last, each atomically: meta.json's presence means the entry is complete."""
        entry = self.entry(layer, channel)
        names = ["image.png"] + [f"diversity-{i}.png" for i in range(1, len(images))]
        for name, array in zip(names, images):
            with atomic_path(entry / name) as tmp:
                Image.fromarray(array).save(tmp, format="PNG")
        meta = {**meta, "image": names[0], "diversity": names[1:]}
        if (layer, channel) in self.seed_digests:
            meta["seed_image"] = self.seed_digests[(layer, channel)]
        atomic_write_json(entry / "meta.json", meta)
        return meta


def seed_digest(image: torch.Tensor) -> str:
    """A content digest of a seed image (shape and exact float32 values): a different seed image,
    even one pixel, is a different cache entry."""
    t = image.detach().to("cpu", torch.float32).contiguous()
    h = hashlib.sha256(repr(tuple(t.shape)).encode())
    h.update(t.numpy().tobytes())
    return h.hexdigest()[:24]


def remove_stale_parts(root: Path, max_age_s: float = STALE_PART_S) -> list[Path]:
    """Delete ``*.part`` files older than ``max_age_s`` in ``root`` and its entry folders (younger
    ones may belong to a run in progress); symlinks are not followed. Returns what was removed."""
    cutoff = time.time() - max_age_s
    removed = []
    folders = [root] + [Path(d.path) for d in os.scandir(root) if d.is_dir(follow_symlinks=False)]
    for folder in folders:
        try:
            for f in os.scandir(folder):
                if (
                    f.name.endswith(PART_SUFFIX)
                    and f.is_file(follow_symlinks=False)
                    and f.stat(follow_symlinks=False).st_mtime < cutoff
                ):
                    Path(f.path).unlink(missing_ok=True)
                    removed.append(Path(f.path))
        except FileNotFoundError:  # another process removed it meanwhile
            continue
    return removed


def _check(meta: dict, key: str, ok) -> None:
    if key not in meta:
        raise KeyError(f"meta.json lacks {key!r}")
    if not ok(meta[key]):
        raise TypeError(f"meta.json has a bad {key!r}: {str(meta[key])[:60]}")


def _is_name(v) -> bool:
    """A plain file name inside the entry: a hand-edited meta.json must not point elsewhere."""
    return isinstance(v, str) and v not in ("", ".", "..") and Path(v).name == v and "\\" not in v


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _not_writable(path) -> UsageError:
    return UsageError(
        f"the render cache {path} is not writable; set RNNVIZ_CACHE=<writable dir> to cache renders elsewhere"
    )
