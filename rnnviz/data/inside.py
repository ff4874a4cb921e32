"""Data folders hold their files: an image reached through a symlink that leaves the folder is
not read (a shared folder could otherwise publish any file on the machine as an example image).

Used where a folder's files are listed, before any file is sampled, checked or read, so the
``--workers`` processes and every torchrun rank see only the files kept here. Such a file is
listed with the unreadable ones (the skipped-files warning and the report); ``labels.csv`` rows
that point outside are refused instead, since the user wrote them.
"""

from __future__ import annotations

from pathlib import Path

from rnnviz.common.files import text_name


def held_inside(root: Path, files: list[Path]) -> tuple[list[Path], list[str]]:
    """``files`` whose real location lies inside ``root``, and a skip note for each of the others."""
    inside = Path(root).resolve()
    kept: list[Path] = []
    outside: list[str] = []
    for path in files:
        try:
            real = path.resolve()
        except (OSError, RuntimeError):  # a symlink loop
            real = None
        if real is not None and real.is_relative_to(inside):
            kept.append(path)
        else:
            outside.append(f"{text_name(path.name)} (a symlink leading outside the data folder)")
    return kept, outside
