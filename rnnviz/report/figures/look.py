"""How a plot is drawn for where it is shown: the report page or a 16:9 slide.

Every plot takes a ``Look`` explicitly (no global state): the page look keeps each plot's own
size and crops to its content; the slide look draws every plot at the size of the slide's image
area with text large enough for the back of a room, and keeps that exact size so the template can
place it at 100%. ``smallest_text_pt`` measures what a reader will see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from matplotlib.figure import Figure
from matplotlib.text import Text

# Okabe-Ito: colour-blind safe. Plots, image grids, the HTML (through its context) and slides.
COLOURS = {"standard": "#D55E00", "robust": "#0072B2"}
# Colour alone is lost in greyscale print and to colour-blind readers, so a model is also told by
# its marker: shape and fill (standard hollow circle, robust filled square), and by hatching where
# it is drawn as bars or areas. Line dash is kept for the *attack* (PGD solid, FGSM dashed), so
# one line shows both: its marker names the model, its dash the attack.
MARKERS = {"standard": "o", "robust": "s"}
MARKER_FILL = {"standard": "white", "robust": None}  # face colour; None: the model's own colour
HATCHES = {"standard": "///", "robust": ""}
# per attack; any other attack dotted (APGD-CE densely dotted, APGD-T dash-dot-dot)
DASHES: dict[str, str | tuple[int, tuple[float, ...]]] = {
    "pgd": "-",
    "fgsm": "--",
    "pgd-l2": "-.",
    "apgd": (0, (1.0, 1.0)),
    "apgd-t": (0, (4.0, 1.5, 1.0, 1.5, 1.0, 1.5)),
}
# Right / wrong verdicts in the example grids: bluish green against a dark wine (Tol), apart in
# lightness in greyscale and under deuteranopia, and unlike either model colour; a wrong verdict
# is also a filled badge, a right one an outlined badge.
RIGHT, WRONG, INK, MUTED = "#009E73", "#882255", "#222222", "#666666"

# 18 pt on a 13.33-inch-wide slide is 1.875% of the slide's width: 13.5 pt on our 10-inch slide.
# How the report's own PNGs are compressed (benchmarks/bench_report.py). The paletted copies the HTML
# embeds (flat plots) keep optimize=True: zlib's default level grows the recorded run's HTML past its
# 3 MB budget. The image grids (renders and photographs) take zlib's default level: optimize=True cost
# them four times the time for files 1.3% smaller.
PNG_OPTIONS: dict[str, object] = {"optimize": True}
PLOT_COLOURS = 256  # plots and the example grids are embedded with a palette (``embed``): the HTML halves
# The plots' own PNGs (``pixels``; the HTML embeds their paletted copies): RGB at zlib level 1 took
# 0.48 s for the demo's 15 plots where matplotlib's RGBA at level 6 took 1.26 s, for files 5% larger.
PLOT_PNG_OPTIONS: dict[str, object] = {"compress_level": 1}
GRID_PNG_OPTIONS: dict[str, object] = {"compress_level": 6}
SLIDE_WIDTH_IN = 10.0  # 254 mm, the slide template's page width
SLIDE_MIN_PT = 18 * SLIDE_WIDTH_IN / 13.333
SLIDE_AREA_IN = (9.2, 3.85)  # the image area under a two-line title (slides.html.j2)

STYLE: Any = {  # matplotlib rcParams (typed Any: rc_context wants its own key literals)
    "font.family": "DejaVu Sans",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "svg.fonttype": "path",  # text as outlines: renders the same in every viewer
    "svg.hashsalt": "rnnviz",  # stable element ids, so the SVG is byte-identical run to run
}


@dataclass(frozen=True)
class Look:
    """Text sizes (points, at the figure's own size), figure size and output folder of one medium."""

    name: str
    font: float  # axis labels, legends, panel titles
    small: float  # dense tick labels, secondary notes
    tiny: float  # cell annotations in heatmaps
    size: tuple[float, float] | None  # the figure size in inches; None: each plot's own
    folder: tuple[str, ...]  # under the report folder
    tight: bool  # crop to the drawn content; False keeps the exact size (placed at 100%)
    line: float = 1.0  # line width and marker size factor
    vector: bool = False  # also an SVG: slide material, which users rescale (the page's PNGs are embedded)

    def figsize(self, width: float, height: float) -> tuple[float, float]:
        return self.size or (width, height)

    def rc(self, **extra: Any) -> Any:
        """rcParams for ``matplotlib.rc_context``: STYLE with this look's text sizes."""
        sizes = {
            "font.size": self.font,
            "axes.titlesize": self.font + 1,
            "axes.labelsize": self.font,
            "xtick.labelsize": self.small,
            "ytick.labelsize": self.small,
            "legend.fontsize": self.small,
            "legend.title_fontsize": self.small,
            "figure.titlesize": self.font + 1,
            "lines.linewidth": 1.8 * self.line,
            "lines.markersize": 6 * self.line,
            "savefig.bbox": "tight" if self.tight else None,
        }
        return {**STYLE, **sizes, **extra}

    def crowded(self, labels: list[str], width_in: float) -> bool:
        """Would these tick labels touch side by side on an axis ``width_in`` wide?"""
        chars = sum(len(label) + 2 for label in labels)
        return chars * 0.6 * self.small > 0.9 * 72 * width_in

    def model(self, model: str) -> dict:
        """Keyword arguments for a model's line: colour, marker shape and fill (names.MARKERS)."""
        return {
            "color": COLOURS[model],
            "marker": MARKERS[model],
            "markerfacecolor": MARKER_FILL[model] or COLOURS[model],
            "markeredgewidth": 1.6 * self.line,
            "markersize": 7 * self.line,
        }

    def bars(self, model: str) -> dict:
        """Keyword arguments for a model's bars: colour and hatch (names.HATCHES), outlined."""
        return {"color": COLOURS[model], "hatch": HATCHES[model], "edgecolor": "white", "linewidth": 0}


PAGE = Look("page", font=11, small=9, tiny=7, size=None, folder=("figures",), tight=True)
SLIDE = Look(
    "slide",
    font=16,
    small=14,
    tiny=14,
    size=SLIDE_AREA_IN,
    folder=("figures", "slides"),
    tight=False,
    line=1.4,
    vector=True,
)


def smallest_text_pt(fig: Figure, shown_width_in: float) -> float:
    """The smallest visible text of ``fig``, in points, once the figure is shown ``shown_width_in``
    wide (a slide figure is placed at its own size, so the factor is 1 there)."""
    fig.draw_without_rendering()
    sizes = [
        float(t.get_fontsize())
        for t in fig.findobj(Text)
        if isinstance(t, Text)
        and t.get_visible()
        and t.get_text().strip()
        and (t.axes is None or t.axes.get_visible())
        and _inside(t, fig)
    ]
    return min(sizes, default=float("inf")) * shown_width_in / fig.get_figwidth()


def _inside(t: Text, fig: Figure) -> bool:
    """Drawn on the canvas (tick labels of ticks outside the view are kept but never drawn)."""
    box = t.get_window_extent()
    whole = fig.bbox
    return box.width > 0 and box.x1 > whole.x0 and box.x0 < whole.x1 and box.y1 > whole.y0 and box.y0 < whole.y1


def image_text_pt(font_px: float, image_width_px: int, shown_width_in: float) -> float:
    """The size in points of ``font_px`` text in a raster image shown ``shown_width_in`` wide."""
    return font_px * 72 * shown_width_in / image_width_px
