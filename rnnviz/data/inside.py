"""Data folders hold their files: an image reached through a symlink that leaves the folder is
not read (a shared folder could otherwise publish any file on the machine as an example image), and a
``labels.csv`` names only files inside its folder.

Used where a folder's files are listed, before any file is sampled, checked or read, so the
``--workers`` processes and every torchrun rank see only the files kept here. Such a file is
listed with the unreadable ones (the skipped-files warning and the report); ``labels.csv`` rows
that point outside are refused instead, since the user wrote them.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from rnnviz.common.errors import UsageError
from rnnviz.common.files import read_bounded, text_name
from rnnviz.models.labels import LabelSet

MAX_LABELS_BYTES = 64 << 20  # ImageNet's 50,000 validation rows take about 2 MB


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


def files_from_csv(root: Path, csv_path: Path, labels: LabelSet, wanted: list[int]) -> dict[int, list[Path]]:
    """``file,label`` rows; every file must lie inside ``root`` (a shared folder cannot pull in others)."""
    found: dict[int, list[Path]] = {i: [] for i in wanted}
    inside = root.resolve()
    for n, row in _rows(csv_path):
        if len(row) < 2 or row[0].strip().lower() in ("file", "filename", "path"):
            continue
        index = labels.resolve_folder(row[1].strip())
        if index in found:
            path = root / row[0].strip()
            if not path.resolve().is_relative_to(inside):
                raise UsageError(
                    f"{csv_path.name} row {n} names {row[0].strip()!r}, outside the data folder "
                    f"{root}; put the image inside that folder"
                )
            found[index].append(path)
    return found


def _rows(csv_path: Path) -> list[tuple[int, list[str]]]:
    """(row number, fields) of a labels table, or one line naming the file and what is wrong with it:
    not UTF-8 text, a NUL byte (no file name holds one), a field past the csv module's limit."""
    fix = "a labels.csv of file,label rows in UTF-8"
    data = read_bounded(csv_path, MAX_LABELS_BYTES, "labels file", fix)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise UsageError(f"{csv_path} is not UTF-8 text (byte {err.start}, line {line}); save it as UTF-8") from None
    if "\0" in text:
        line = text[: text.index("\0")].count("\n") + 1
        raise UsageError(f"{csv_path} holds a NUL byte on line {line}, which no file name can hold; pass {fix}")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return [(n, row) for n, row in enumerate(reader, start=1)]
    except csv.Error as err:
        raise UsageError(f"{csv_path} line {reader.line_num}: {err}; pass {fix}") from None
