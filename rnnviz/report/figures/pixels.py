"""A plot's PNG from one drawing, kept as pixels: the HTML's copy is made from them, not decoded again.

``savefig`` to a PNG file would draw the figure, encode it with its alpha channel (every plot is
opaque) and leave nothing to make the embedded copy from but the file; and with a layout engine
it draws the figure twice (once, not rendered, to lay it out). ``write_png`` lays the figure out
and crops it as ``savefig`` does (``bbox_inches="tight"``: the same box, to the bit), draws it
once to raw RGBA, and writes that as an RGB PNG (``look.PLOT_PNG_OPTIONS``); the pixels it
returns are what ``embed`` quantizes for the HTML.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox
from PIL import Image

from rnnviz.common.files import atomic_path
from rnnviz.report.figures import look

OPAQUE = (255, 255)


def write_png(fig: Figure, path: Path, options: dict[str, Any]) -> Image.Image:
    """Write ``fig`` to ``path`` as ``fig.savefig(path, **options)`` draws it (``options``: savefig's,
    with a ``dpi``); return its pixels, RGB where the figure is opaque (with ``info["dpi"]``)."""
    dpi = options["dpi"]
    canvas = FigureCanvasAgg(fig)  # savefig draws RGBA on the canvas it finds when that can print it
    box = lay_out(fig, canvas, dpi, tight=matplotlib.rcParams["savefig.bbox"] == "tight")
    raw = io.BytesIO()
    keep = {k: v for k, v in options.items() if k not in ("format", "metadata", "dpi", "bbox_inches")}
    fig.savefig(raw, format="rgba", dpi=dpi, bbox_inches=box, **keep)
    height, width = np.asarray(canvas.renderer.buffer_rgba()).shape[:2]  # the size savefig chose
    if len(raw.getbuffer()) != width * height * 4:
        raise RuntimeError(f"{path.name}: matplotlib drew {len(raw.getbuffer())} bytes, not {width}x{height} RGBA")
    pixels = Image.frombuffer("RGBA", (width, height), raw.getvalue(), "raw", "RGBA", 0, 1)
    if pixels.getchannel("A").getextrema() == OPAQUE:
        pixels = pixels.convert("RGB")
    pixels.info["dpi"] = (dpi, dpi)
    with atomic_path(path) as tmp:
        pixels.save(tmp, format="PNG", dpi=(dpi, dpi), **look.PLOT_PNG_OPTIONS)
    return pixels


def lay_out(fig: Figure, canvas: FigureCanvasAgg, dpi: float, tight: bool) -> Bbox | None:
    """Lay ``fig`` out at ``dpi`` as savefig does (its layout engine, run once, then removed: savefig
    would otherwise lay it out again in a draw of its own); where ``tight``, return savefig's
    ``bbox_inches="tight"`` box in inches: the drawn extent padded by ``savefig.pad_inches``."""
    shown = fig.dpi
    fig.dpi = dpi
    try:
        renderer = canvas.get_renderer()
        engine = fig.get_layout_engine()
        if engine is not None:
            engine.execute(fig)
        box = fig.get_tightbbox(renderer) if tight else None
    finally:
        fig.dpi = shown
    fig.set_layout_engine(None)  # none at all (with "none" savefig still draws once to lay out)
    return None if box is None else box.padded(matplotlib.rcParams["savefig.pad_inches"])
