"""Reading ``exemplars`` (channel cards) once the schema has checked them.

``exemplars`` is null or absent (older runs, ``--exemplars 0``) or ``{"n": int, "standard": {...},
"robust": {...}}`` with one card per ``"layer:channel"`` key, its eps keys ``eps_key`` of a
non-zero ``config.eps`` (schema.json: x-eps-keys) and its pictures under ``figures/cards/`` (x-file
"card"). A picture that is missing is shown as missing (a card is worth reading without one).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rnnviz.common.names import eps_key, parse_channel_key
from rnnviz.report.validate.safety import inside


def eps_keys(eps: list[float]) -> dict[str, int]:
    """The ``change`` keys the engine writes (``eps_key``, e.g. ``"0.1"``) of ``config.eps`` -> eps index."""
    return {eps_key(e): i for i, e in enumerate(eps) if e > 0}


def card_key(key: str) -> tuple[str, int]:
    """``"layer4.0:53"`` -> ``("layer4.0", 53)`` (a validated key)."""
    return parse_channel_key(key)


def picture(root: Path, rel: str | None) -> Path | None:
    """The file of a validated card picture, or None where it is null or missing: a card shows
    "picture missing" rather than failing. Not a regular file inside ``root``: None as well."""
    if rel is None:
        return None
    path = Path(root) / rel
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return path if stat.S_ISREG(mode) and inside(root, path) else None
