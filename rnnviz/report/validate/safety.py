"""Confinement to the report folder: which files the renderer may read, and where it may write.

results.json is untrusted input (a folder may come from someone else), so every name it holds
is checked before use, and every file the renderer writes has a name built from checked parts
and is checked to lie inside the folder before it is opened. No symlink may lead out of the
folder, and only regular files are read (a FIFO would block forever).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from rnnviz.common.errors import UsageError

SAFE_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,150}")  # one file or folder name we write
UNSAFE = re.compile(r"[\\:\x00-\x1f]")  # backslash, scheme / drive, control


def relative_problem(rel: object) -> str | None:
    """Why ``rel`` is not a plain relative path (``figures/x.png``), or None."""
    if not isinstance(rel, str) or not rel:
        return "expected a relative file path"
    if UNSAFE.search(rel):
        return "expected a plain relative path (no scheme, backslash or control character)"
    if rel.startswith("/"):
        return "expected a path relative to the report folder, not an absolute one"
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return "expected a plain relative path (no '..', '.' or empty part)"
    return None


def inside(root: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def regular_file(root: Path, rel: str, field: str) -> Path:
    """``root / rel`` after checking it is a plain relative path to a regular file inside ``root``."""
    problem = file_problem(root, rel)
    if problem:
        raise UsageError(f"results.json: {field} {problem}")
    return root / rel


def file_problem(root: Path, rel: object) -> str | None:
    """Why ``rel`` is not a plain relative path to a regular file inside ``root`` (the words after
    the field's name: ``is '../x': expected ...``), or None.

    ``os.stat`` looks at the file without opening it, so a FIFO or device is refused, never read.
    """
    problem = relative_problem(rel)
    if problem:
        return f"is {_show(rel)}: {problem}"
    assert isinstance(rel, str)
    path = root / rel
    if not inside(root, path):
        return f"is {_show(rel)}, which leads outside {root} (a symlink?): a report reads only its own folder"
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return f"names {_show(rel)}, which is missing: re-run the job that wrote the folder"
    if not stat.S_ISREG(mode):
        return f"names {_show(rel)}, which is not a regular file"
    return None


def card_picture_problem(root: Path, rel: object, folder: str = "figures/cards/") -> str | None:
    """Like ``file_problem`` for a card picture, which may be null or missing (a card is worth
    reading without one, and shows "picture missing"); one that exists must still be a regular
    file inside the folder (no symlink out, no FIFO)."""
    if rel is None:
        return None
    problem = relative_problem(rel)
    if problem is None and not str(rel).startswith(folder):
        problem = f"expected a path under {folder}"
    if problem:
        return f"is {_show(rel)}: {problem}"
    assert isinstance(rel, str)
    if os.path.lexists(root / rel) and file_problem(root, rel) is not None:
        return (
            f"names {rel!r}, which is not a regular file inside the report folder "
            "(a symlink or a special file): a report reads only its own folder"
        )
    return None


def output(root: Path, *parts: str) -> Path:
    """A file to write, ``root/part/.../name``, made only of safe names and checked to lie inside
    ``root``: missing folders are created, a folder that is a symlink is refused."""
    for part in parts:
        if not SAFE_PART.fullmatch(part) or part in (".", ".."):
            raise UsageError(f"refused to write {_show(part)} in {root}: not a plain file name")
    folder = root
    for part in parts[:-1]:
        folder = folder / part
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise UsageError(
                f"{folder} is a symlink or not a folder: a report writes only inside {root}; remove it and re-render"
            )
        folder.mkdir(exist_ok=True)
    target = folder / parts[-1]
    if not inside(root, target.parent) or (target.is_symlink() and not inside(root, target)):
        raise UsageError(f"refused to write {target}: it leads outside {root}")
    if target.exists() and not target.is_symlink() and not target.is_file():
        raise UsageError(f"{target} exists and is not a regular file; remove it and re-render")
    return target


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
