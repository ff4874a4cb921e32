"""Atomic writes and content hashes.

Every file that someone may later rely on is written to a temporary name in the same
folder and renamed into place, so an interrupted run never leaves a partial file where
a complete one is expected.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rnnviz.common.errors import UsageError

PART_SUFFIX = ".part"  # temporary files; a crash can leave one behind, never a half-written target


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=PART_SUFFIX)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; reports are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    """Strict JSON: a NaN or inf is a bug upstream, never written as a bare ``NaN``."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def key_digest(**fields) -> str:
    """A stable content key from keyword fields (sorted JSON, sha256, 24 hex digits)."""
    blob = json.dumps(fields, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


@contextmanager
def strict_images() -> Iterator[None]:
    """Pillow raises on truncated files inside: WeasyPrint, once imported, sets Pillow's global
    ``LOAD_TRUNCATED_IMAGES``, which would let a half-written PNG or JPEG pass as complete."""
    from PIL import ImageFile

    saved = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved


def text_name(name: str) -> str:
    """A file name as text any encoder accepts. A name whose bytes are not UTF-8 reaches Python with
    surrogate escapes (``b'bad\\xff.png'`` -> ``'bad\\udcff.png'``), which writing UTF-8 (report.html,
    a PDF) refuses; such bytes become backslash escapes (``bad\\xff.png``, as ``ls -b`` shows it), and a
    lone surrogate of another origin (a ``\\udXXX`` escape in JSON) becomes ``\\udXXX``."""
    try:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def text_values(value):
    """``value`` (parsed or about-to-be-written JSON) with every string and key through ``text_name``:
    a file name from a data folder or a ``\\udXXX`` escape in someone's results.json can carry a lone
    surrogate, which would stop report.html and the PDF from being written."""
    if isinstance(value, str):
        return text_name(value) if _has_surrogate(value) else value
    if isinstance(value, dict):
        return {text_values(k): text_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [text_values(v) for v in value]
    return value


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def read_bounded(path: str | os.PathLike, limit: int, what: str, wanted: str) -> bytes:
    """The bytes of a small input file (a settings file, a labels table), or one line saying why not.

    Only a regular file is opened (a FIFO blocks its reader forever, a device such as /dev/zero never
    ends) and at most ``limit`` bytes are read, so a wrong path costs neither a hang nor the memory.
    ``what`` names the file in the message ("config file"), ``wanted`` what to pass instead.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a pipe or a device)"
            raise UsageError(f"{what} {path} is {kind}; pass {wanted}")
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise UsageError(f"{what} not found: {path}; pass {wanted}") from None
    except OSError as err:
        raise UsageError(f"cannot read {what} {path} ({err.strerror}); pass {wanted}") from None
    if len(data) > limit:
        raise UsageError(f"{what} {path} is over {limit // 1024} KB, more than {wanted} holds; pass {wanted}")
    return data
