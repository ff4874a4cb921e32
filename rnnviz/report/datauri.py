"""PNG files as ``data:`` URIs, each distinct file read and encoded once per report.

A card picture, a render and a figure can be referenced many times (a render on its card and in
a slide, the same picture named by several cards); the cache, keyed by the file's resolved path
and its size and modification time, hands every reference the same string instead of reading and
encoding the file again. ``clear`` empties it when a report is written.

Plots and the cards' map sheets are embedded with at most ``colours`` colours (``figures.embed``;
a copy a figure worker already made is taken as it is). Feature-visualization renders and galleries
keep every colour.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from rnnviz.report.figures import embed

PREFIX = "data:image/png;base64,"


def data_uri(
    path: Path,
    accept: Callable[[Path, bytes], bool] | None = None,
    colours: int | None = None,
    width: int | None = None,
) -> str | None:
    """``path`` as a data: URI, or None when ``accept(path, data)`` says no (or the file went away);
    with ``colours``, re-encoded with a palette of that many colours (and at most ``width`` pixels
    wide: the size it is shown at) where that is smaller."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _encoded(str(Path(path).resolve()), st.st_size, st.st_mtime_ns, accept, colours, width)


@lru_cache(maxsize=512)
def _encoded(
    resolved: str,
    size: int,
    mtime_ns: int,
    accept: Callable[[Path, bytes], bool] | None,
    colours: int | None,
    width: int | None,
) -> str | None:
    try:
        data = Path(resolved).read_bytes()
    except OSError:
        return None
    if accept is not None and not accept(Path(resolved), data):
        return None
    if colours:
        made = embed.made_copy((resolved, size, mtime_ns, colours, width))
        data = made if made is not None else embed.embedded(data, colours, width)
    return PREFIX + base64.b64encode(data).decode("ascii")


def clear() -> None:
    """Let go of the encoded files (a report is written; the next one may read other folders)."""
    _encoded.cache_clear()
    embed.clear()
