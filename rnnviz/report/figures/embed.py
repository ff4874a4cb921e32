"""The copy of a PNG that the HTML embeds: a palette of ``colours`` colours where that is smaller.

Plots and the cards' map sheets are embedded with at most ``colours`` colours (an adaptive palette,
no dither; the files on disk keep every colour): their flat fills and colour maps look the same
and the HTML halves. Making that copy (decode, quantize, zlib at level 9) is most of what the HTML
costs, so a figure worker makes it right after writing a plot (``figure_workers``), beside the
other figures being drawn, and ``remember`` hands it to ``datauri``, which would otherwise make it
when the HTML asks. A made copy is keyed by the file's resolved path, size and modification time:
a file written again is encoded again.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

from rnnviz.report.figures import look

# resolved path, size, mtime_ns, colours, width: what one embedded copy is made from
Key = tuple[str, int, int, int, "int | None"]

_made: dict[Key, bytes] = {}


def key(path: Path, colours: int, width: int | None = None) -> Key | None:
    """What a copy of ``path`` as it is now is filed under; None where the file went away."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return str(Path(path).resolve()), st.st_size, st.st_mtime_ns, colours, width


def embedded(data: bytes, colours: int, width: int | None = None, pixels: Image.Image | None = None) -> bytes:
    """``data`` or its paletted copy (``paletted``), whichever is smaller."""
    return min(data, paletted(data, colours, width, pixels), key=len)


def paletted(data: bytes, colours: int, width: int | None = None, pixels: Image.Image | None = None) -> bytes:
    """The PNG ``data`` with an adaptive palette of ``colours`` colours (fast octree, no dither: half
    median cut's time and smaller files on these flat plots, no visible difference),
    scaled down to ``width`` pixels where it is wider. ``pixels``: ``data`` decoded, where they are
    at hand (a worker that just wrote the file)."""
    with pixels or Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
        if width and rgb.width > width:
            rgb = rgb.resize((width, round(rgb.height * width / rgb.width)), Image.Resampling.NEAREST)
        small = rgb.quantize(colours, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        out = io.BytesIO()
        small.save(out, "PNG", dpi=img.info.get("dpi", (72, 72)), **look.PNG_OPTIONS)
    return out.getvalue()


def make(
    path: Path, colours: int, width: int | None = None, pixels: Image.Image | None = None
) -> tuple[Key, bytes] | None:
    """The embedded copy of the file at ``path`` with its key (in a worker: sent back to ``remember``);
    ``pixels``: the file's pixels, where they are at hand."""
    k = key(path, colours, width)
    if k is None:
        return None
    try:
        data = Path(k[0]).read_bytes()
    except OSError:
        return None
    return k, embedded(data, colours, width, pixels)


def remember(made: tuple[Key, bytes] | None) -> None:
    if made is not None:
        _made[made[0]] = made[1]


def made_copy(k: Key) -> bytes | None:
    """The copy a worker already made of this file as it is now, if any."""
    return _made.get(k)


def clear() -> None:
    _made.clear()
