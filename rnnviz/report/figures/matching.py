"""The plots of the matching section (issue 28): linear CKA of every standard layer with every
robust layer, a heat map with its numbers in the cells; and per layer the CKA beside its baselines.
Same conventions as ``plots`` (object API, PNG at 200 dpi + SVG, ``plain`` for every string from results.json)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from rnnviz.report.figures.look import COLOURS, INK, MARKER_FILL, MARKERS, PAGE, Look
from rnnviz.report.figures.plots import plain, save_plot
from rnnviz.results.model.matching import CkaBaselines, Matching

NUMBERED = 16  # layers up to which each cell shows its number and the map grows with the layer count


def cka_plot(match: Matching, root: Path, stem: str, look: Look = PAGE) -> Figure:
    """Rows: the standard model's layers; columns: the robust model's; a missing CKA is blank."""
    layers = [plain(la) for la in match.layers]
    values = np.array([[np.nan if v is None else v for v in row] for row in match.cka], dtype=float)
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
        save_plot(fig, root, stem, look)
    return fig


# column of results.json's matching.baselines -> (legend, colour, line style, marker)
BASELINE_LINES = {
    "pair": ("standard vs robust", INK, "-", "D"),
    "random_standard": ("standard vs random copy", COLOURS["standard"], ":", MARKERS["standard"]),
    "random_robust": ("robust vs random copy", COLOURS["robust"], ":", MARKERS["robust"]),
    "seed_standard": ("standard vs its second seed", COLOURS["standard"], "-.", MARKERS["standard"]),
    "seed_robust": ("robust vs its second seed", COLOURS["robust"], "-.", MARKERS["robust"]),
}


def baselines_plot(baselines: CkaBaselines, root: Path, stem: str, look: Look = PAGE) -> Figure:
    """Per layer, the pair's CKA beside its baselines (random copy, second seed): left as measured,
    right with the class means removed. A baseline that was not measured is not drawn."""
    rows = baselines.layers
    layers = [plain(r.layer) for r in rows]
    x = np.arange(len(layers))
    with matplotlib.rc_context(look.rc()):
        fig = Figure(figsize=look.figsize(max(7.0, 2.0 + 1.1 * len(layers)), 3.8), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        for ax, part, title in zip(axes, ("cka", "class_removed"), ("as measured", "class means removed")):
            columns = [(r.cka if part == "cka" else r.class_removed).model_dump() for r in rows]
            for key, (label, colour, dash, marker) in BASELINE_LINES.items():
                values = np.array([np.nan if c[key] is None else c[key] for c in columns], dtype=float)
                if not np.isfinite(values).any():
                    continue
                face = MARKER_FILL.get(key.rsplit("_", 1)[-1], None) or colour
                ax.plot(
                    x,
                    values,
                    dash,
                    color=colour,
                    marker=marker,
                    markerfacecolor=face,
                    label=label,
                    linewidth=2.2 * look.line if key == "pair" else 1.4 * look.line,
                )
            ax.set_title(title)
            ax.set_xticks(x, layers, rotation=30, ha="right")
            ax.set_ylim(0, 1.02)
        axes[0].set_ylabel("linear CKA, same layer")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(3, len(labels)))
        save_plot(fig, root, stem, look)
    return fig
