"""ladder.json's one writer, and its bounded, typed reader.

The ladder folder holds one complete pair run per rung under ``pairs/``; ladder.json names them. A
ladder folder may come from someone else, so the reader checks its size before parsing and its
folder names by pattern (``rnnviz.results.model.ladder``): never a path out of the folder.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from rnnviz.common.errors import UsageError
from rnnviz.common.files import atomic_write_json, read_bounded
from rnnviz.common.names import NORMS
from rnnviz.results.model.ladder import LADDER_VERSION, Ladder, LadderRung
from rnnviz.settings.ladder import PAIRS_DIR, LadderModel
from rnnviz.settings.presets import PRESETS

LADDER_FILE = "ladder.json"
LADDER_MOST_BYTES = 1 << 16  # a dozen models' names: a few kilobytes


def ladder_document(cfg, models: list[LadderModel]) -> Ladder:
    """What ladder.json says of a run: its models in increasing training eps and their pair folders."""
    preset = PRESETS[cfg.preset]
    own = {r.spec for r in preset.ladder} >= {m.spec for m in models}
    rungs = [
        LadderRung(
            label=m.label,
            spec=m.spec,
            train_eps=m.train_eps,
            published=m.published,
            folder=f"{PAIRS_DIR}/{m.label}" if i else None,
            note=m.note,
        )
        for i, m in enumerate(models)
    ]
    return Ladder(
        ladder_version=LADDER_VERSION,
        created=datetime.now().isoformat(timespec="seconds"),
        preset=cfg.preset,
        train_norm=preset.train_norm if own else NORMS[cfg.attack[0]],
        rungs=rungs,
    )


def write_ladder(root: Path, ladder: Ladder) -> Path:
    path = Path(root) / LADDER_FILE
    atomic_write_json(path, ladder.model_dump(mode="json"))
    return path


def is_ladder(root: Path) -> bool:
    return (Path(root) / LADDER_FILE).is_file()


def read_ladder(root: Path) -> Ladder:
    """ladder.json of ``root``, checked, or one line saying what is wrong with it."""
    path = Path(root) / LADDER_FILE
    raw = read_bounded(path, LADDER_MOST_BYTES, "ladder.json", "a ladder.json written by rnnviz")
    try:
        return Ladder.model_validate_json(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the top level"
        raise UsageError(f"{path}: {where}: {first['msg']}; re-run the ladder to rewrite it") from None


def pair_folders(root: Path, ladder: Ladder) -> list[Path]:
    """Each rung's pair folder, checked to be a real folder inside ``root`` (a link out is refused)."""
    root = Path(root)
    folders = []
    for rung in ladder.rungs:
        if rung.folder is None:
            continue
        folder = root / rung.folder
        inside = folder.resolve().is_relative_to(root.resolve())
        if folder.is_symlink() or (root / PAIRS_DIR).is_symlink() or not inside or not folder.is_dir():
            raise UsageError(
                f"{root / LADDER_FILE} names pair folder {rung.folder}, which is not a folder inside {root}: "
                "re-run the ladder to rewrite it"
            )
        folders.append(folder)
    return folders
