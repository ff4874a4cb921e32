"""PNG files as ``data:`` URIs, each distinct file read and encoded once per report.

A card picture, a render and a figure can be referenced many times (a render on its card and in
a slide, the same picture named by several cards); the cache, keyed by the file's resolved path
and its size and modification time, hands every reference the same string instead of reading and
encoding the file again. ``clear`` empties it when a report is written.

Plots and the cards' map sheets are embedded with at most ``colours`` colours (an adaptive palette,
no dither; the files on disk keep every colour): their flat fills and colour maps look the same
and the HTML halves. Feature-visualization renders and galleries keep every colour.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from PIL import Image

from rnnviz.report.figures import look

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
        data = min(data, paletted(data, colours, width), key=len)
    return PREFIX + base64.b64encode(data).decode("ascii")


def paletted(data: bytes, colours: int, width: int | None = None) -> bytes:
    """The PNG ``data`` with an adaptive palette of ``colours`` colours (fast octree, no dither: half
    median cut's time and smaller files on these flat plots, no visible difference),
    scaled down to ``width`` pixels where it is wider."""
    with Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
        if width and rgb.width > width:
            rgb = rgb.resize((width, round(rgb.height * width / rgb.width)), Image.Resampling.NEAREST)
        small = rgb.quantize(colours, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        out = io.BytesIO()
        small.save(out, "PNG", dpi=img.info.get("dpi", (72, 72)), **look.PNG_OPTIONS)
    return out.getvalue()


def clear() -> None:
    """Let go of the encoded files (a report is written; the next one may read other folders)."""
    _encoded.cache_clear()
