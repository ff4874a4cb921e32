"""The plot of the matching section (issue 28): linear CKA of every standard layer with every
robust layer, a heat map with its numbers in the cells. Same conventions as ``plots`` (object
API, PNG at 200 dpi + SVG, ``plain`` for every string from results.json)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from rnnviz.report.figures.look import COLOURS, PAGE, Look
from rnnviz.report.figures.plots import _save, plain

NUMBERED = 16  # layers up to which each cell shows its number and the map grows with the layer count


def cka_plot(results: dict, root: Path, stem: str, look: Look = PAGE) -> Figure:
    """Rows: the standard model's layers; columns: the robust model's; a missing CKA is blank."""
    match = results["matching"]
    layers = [plain(la) for la in match["layers"]]
    values = np.array([[np.nan if v is None else v for v in row] for row in match["cka"]], dtype=float)
    side = 1.2 + 0.62 * min(len(layers), NUMBERED)  # a long layer list must not grow the canvas (7.2 GB at 120)
    with matplotlib.rc_context(look.rc()):
        fig = Figure(figsize=look.figsize(side + 1.4, side), layout="constrained")
        ax = fig.subplots()
        image = ax.imshow(values, vmin=0.0, vmax=1.0, cmap="Greys", aspect="equal")
        ax.grid(False)
        numbered = range(len(layers) if len(layers) <= NUMBERED else 0)
        for i in numbered:
            for j in numbered:
                if np.isfinite(values[i, j]):
                    ink = "white" if values[i, j] > 0.55 else "black"
                    ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", color=ink)
        ax.set_xticks(range(len(layers)), layers, rotation=30, ha="right")
        ax.set_yticks(range(len(layers)), layers)
        ax.set_xlabel("robust model layer", color=COLOURS["robust"])
        ax.set_ylabel("standard model layer", color=COLOURS["standard"])
        fig.colorbar(image, ax=ax, shrink=0.8, label="linear CKA")
        _save(fig, root, stem, look)
    return fig
