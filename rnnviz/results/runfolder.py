"""Report folders: who owns one, whether it may be resumed, and when it is finished.

A run holds an OS lock on its folder for its whole life (it dies with the process), so two
runs never share a folder. While a run is unfinished the folder carries a marker holding the
fingerprint of its settings: only the same settings may resume it; the engine removes the
marker when the run is complete.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from rnnviz.common.errors import UsageError
from rnnviz.common.files import atomic_write_text, key_digest
from rnnviz.common.names import slug

INCOMPLETE_MARKER = ".rnnviz-incomplete"  # holds the fingerprint of the unfinished run's settings
LOCK_FILE = ".rnnviz-lock"
UNFINGERPRINTED = ("out", "pdf", "slides", "workers")  # settings that change no result


def fingerprint(cfg_json: dict) -> str:
    """Settings that decide the results; a folder is resumed only under the same fingerprint."""
    return key_digest(**{k: v for k, v in cfg_json.items() if k not in UNFINGERPRINTED})


def is_unfinished(folder: Path) -> bool:
    return (folder / INCOMPLETE_MARKER).exists()


@dataclass
class RunFolder:
    """An output folder this process owns until ``release`` (or exit)."""

    path: Path
    _fd: int | None = field(default=None, repr=False)

    def finish(self) -> None:
        """Mark the run complete: a later run will not reuse the folder."""
        (self.path / INCOMPLETE_MARKER).unlink(missing_ok=True)

    def release(self) -> None:
        if self._fd is not None:
            (self.path / LOCK_FILE).unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def claim(out: str | None, cfg_json: dict, default_stem: str) -> RunFolder:
    """Lock the report folder: ``out`` if given (refused when busy or finished), else the first
    free ``reports/<date>-<stem>[-N]``."""
    print_ = fingerprint(cfg_json)
    if out:
        folder, problem = _try(Path(out), print_)
        if problem or folder is None:
            raise UsageError(f"output folder {out} {problem}")
        return folder
    base = Path("reports") / f"{date.today().isoformat()}-{slug(default_stem)[:60]}"
    n = 1
    while True:
        candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
        folder, problem = _try(candidate, print_)
        if folder is not None:
            return folder
        n += 1


def _try(path: Path, print_: str) -> tuple[RunFolder | None, str | None]:
    """Lock ``path`` and check it may hold this run; on refusal the lock is let go."""
    if path.exists() and not path.is_dir():
        return None, "is a file; choose a folder for --out"
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise UsageError(f"cannot write to output folder {path} ({err.strerror}); choose a writable --out") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None, "is in use by another rnnviz run; wait for it or choose another --out"
    folder = RunFolder(path, fd)
    problem = _refusal(path, print_)
    if problem:
        folder.release()
        return None, problem
    atomic_write_text(path / INCOMPLETE_MARKER, print_ + "\n")
    return folder, None


def _refusal(path: Path, print_: str) -> str | None:
    contents = {p.name for p in path.iterdir()} - {LOCK_FILE}
    if not contents:
        return None
    if INCOMPLETE_MARKER not in contents and "results.json" not in contents:
        return "is not empty and holds no rnnviz run; choose a new or empty folder for --out (nothing was touched)"
    if INCOMPLETE_MARKER not in contents:
        return (
            "already holds a finished run; re-render its report with --from, or choose another --out "
            "(nothing was overwritten)"
        )
    left = (path / INCOMPLETE_MARKER).read_text(errors="replace").strip()
    if left and left != print_:
        return (
            "holds an interrupted run with different settings; rerun its original command to resume "
            "it, or choose another --out (nothing was overwritten)"
        )
    return None
