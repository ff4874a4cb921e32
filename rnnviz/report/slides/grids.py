"""The report's image grids recomposed for slides: fewer tiles per picture, text at slide size.

A page grid holds both models and every tile; on a slide its captions would shrink to a few
points. Here each picture holds what one slide can show with text of at least 18 pt on a
13.33-inch slide: one example (models x eps), or up to ``PER_SLIDE`` channels of one model.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from rnnviz.common.names import MODELS
from rnnviz.report.figures import plots
from rnnviz.report.figures.channel_grids import channel_cell, load_tile
from rnnviz.report.figures.grids import SLIDE_GRID, Cell, GridStyle, Line, grid, hstack, text_image, vstack
from rnnviz.report.figures.look import COLOURS, MUTED, RIGHT, SLIDE_AREA_IN, WRONG
from rnnviz.report.text.format import pct, ranked
from rnnviz.results.model import Results
from rnnviz.results.model.pictures import Example, Render, Shot
from rnnviz.results.model.run import RunConfig

PER_SLIDE = 5  # channel tiles in one row of one slide
ROWS_PER_SLIDE = 2  # diversity rows on one slide
GALLERY_GRID = GridStyle(tile=224, font_px=SLIDE_GRID.font_px, line_px=SLIDE_GRID.line_px, pad=SLIDE_GRID.pad)


def example(config: RunConfig, root: Path, ex: Example, style: GridStyle = SLIDE_GRID) -> Image.Image:
    """One example: a row per model, a column per eps, each tile with its verdict badge."""
    labels = config.eps_labels
    heads = [[Line("clean" if e == 0 else f"ε = {labels[k]}", bold=True)] for k, e in enumerate(_eps(ex))]
    row_heads = [[Line(m, COLOURS[m], True)] for m in MODELS]
    rows = [
        [Cell(load_tile(root, entry.of(m).image, style.tile), [_verdict(entry.of(m))]) for entry in ex.by_eps]
        for m in MODELS
    ]
    return grid(rows, col_heads=heads, row_heads=row_heads, style=style)


def _eps(ex: Example) -> list[float]:
    return [entry.eps for entry in ex.by_eps]


def _verdict(shot: Shot) -> Line:
    """Shorter than the page's: the true label is in the slide's title, so a right answer is ✓ and its
    confidence; a wrong one names the class it was taken for."""
    if shot.correct:
        return Line(f"✓ {pct(shot.confidence)}", RIGHT, True, badge="outline")
    return Line(f"✗ {shot.pred}", WRONG, True, badge="filled")


def gallery(
    results: Results, root: Path, renders: dict, i: int, recipe: str, model: str, style: GridStyle = GALLERY_GRID
) -> list[Image.Image]:
    """One model's top-k channels at eps index ``i``, ``PER_SLIDE`` to a picture."""
    p_top = {(r.layer, r.channel): r.p_top for r in ranked(results, model, i).top}
    cells = [
        channel_cell(
            root,
            renders.get((model, c.layer, c.channel, recipe)),
            c,
            p_top.get((c.layer, c.channel)),
            style.tile,
            compact=True,
        )
        for c in results.top_channels.of(model)[i]
    ]
    head = text_image([Line(plots.model_label(results.models, model), COLOURS[model], True)], style)
    chunks = [cells[j : j + PER_SLIDE] for j in range(0, len(cells), PER_SLIDE)] or [[Cell(note="no channels")]]
    return [vstack([head, grid([list(chunk)], style=style)], gap=style.pad) for chunk in chunks]


def side_by_side(
    results: Results, root: Path, renders: dict, i: int, recipe: str, style: GridStyle = GALLERY_GRID
) -> list[Image.Image]:
    """Both models' first ``PER_SLIDE`` channels at eps index ``i`` in one picture, the comparison a
    listener should see at once: side by side or one above the other, whichever shows larger."""
    parts = [gallery(results, root, renders, i, recipe, m, style)[0] for m in MODELS]
    options = [hstack(parts, gap=4 * style.pad), vstack(parts, gap=2 * style.pad)]
    return [max(options, key=_shown_area)]


def _shown_area(img: Image.Image) -> float:
    """The square inches ``img`` covers once fitted to the slide's image area."""
    area_w, area_h = SLIDE_AREA_IN
    scale = min(area_w / img.width, area_h / img.height)
    return img.width * img.height * scale * scale


def diversity(renders: list[Render], root: Path, recipe: str, style: GridStyle = SLIDE_GRID) -> list[Image.Image]:
    """Each channel's render and its diverse images, ``ROWS_PER_SLIDE`` channels to a picture."""
    chosen = [r for r in renders if r.recipe == recipe and r.diversity]
    out = []
    for j in range(0, len(chosen), ROWS_PER_SLIDE):
        part = chosen[j : j + ROWS_PER_SLIDE]
        width = 1 + max(len(r.diversity) for r in part)
        heads = [[Line("render", bold=True)]] + [[Line(f"diverse {d + 1}", MUTED)] for d in range(width - 1)]
        row_heads = [[Line(r.model, COLOURS[r.model], True), Line(f"{r.layer} · {r.channel}")] for r in part]
        rows = [[Cell(load_tile(root, p, style.tile)) for p in [r.image, *r.diversity]] for r in part]
        out.append(grid(rows, col_heads=heads, row_heads=row_heads, style=style))
    return out
