"""Where expensive results (downloaded weights, renders) are cached."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$RNNVIZ_CACHE``, else ``$XDG_CACHE_HOME/rnnviz``, else ``~/.cache/rnnviz``."""
    root = os.environ.get("RNNVIZ_CACHE")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = Path(xdg) / "rnnviz" if xdg else Path.home() / ".cache" / "rnnviz"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
