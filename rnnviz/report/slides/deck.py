"""The slide deck (``--slides``): about a dozen slides, one message each, every figure redrawn at slide size.

Plots are drawn again with ``look.SLIDE`` (the size of the slide's image area, text of at least
18 pt on a 13.33-inch slide) and image grids recomposed by ``slide_grids``; each is written under
``figures/slides/`` (PNG, and SVG for plots) and placed at a known width, so its smallest text on
the slide is measured here, not hoped for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from PIL import Image

from rnnviz.common.names import MODELS
from rnnviz.report.figures import attacks as attack_plots
from rnnviz.report.figures import patching as patch_plots
from rnnviz.report.figures import plots
from rnnviz.report.figures import trust as trust_plots
from rnnviz.report.figures.grids import PAD, SLIDE_GRID, GridStyle, save_image
from rnnviz.report.figures.look import SLIDE, SLIDE_AREA_IN, SLIDE_MIN_PT, image_text_pt, smallest_text_pt
from rnnviz.report.sections import trust
from rnnviz.report.sections.catalogue import ReportFigure, attacked_indices, class_slugs, main_index, rendered_recipes
from rnnviz.report.slides import grids as slide_grids
from rnnviz.report.slides import titles as say
from rnnviz.report.text.cause import cause_line
from rnnviz.report.text.format import attack_label, slugs
from rnnviz.report.validate.safety import output
from rnnviz.results.model import Results
from rnnviz.results.model.pictures import Render

TABLE_ROWS = 10  # top-k rows on one slide


@dataclass
class SlideFigure:
    """A figure file as placed on a slide: ``width_mm`` wide, its smallest text ``text_pt`` there."""

    key: str
    png: Path
    svg: Path | None
    width_mm: float
    text_pt: float


@dataclass
class Slide:
    title: str  # the slide's message, one sentence
    figure: SlideFigure | None = None
    table: dict | None = None  # a top-k table: eps label and each model's rows
    shown: bool = True  # False: written to figures/slides/ for whoever wants it, not in the deck


def build(results: Results, root: Path, figures: list[ReportFigure]) -> list[Slide]:
    """The deck's slides in reading order (about a dozen, one finding each: accuracy, one example, the
    leading ε's profile, top-k and side-by-side gallery, trust, the attacks, cause), then the
    slide-sized figures kept only as files under figures/slides/ (``shown=False``)."""
    keys = {f.key for f in figures}
    lead = main_index(results)
    deck = [
        Slide(say.accuracy(results), _plot(plots.accuracy_plot, results, root, "accuracy")),
        Slide(say.per_class(results), _plot(plots.per_class_plot, results, root, "accuracy_per_class")),
    ]
    examples = _example_slides(results, root)
    deck += examples[:1]
    extras = examples[1:]
    for i in attacked_indices(results.config):
        fig = _plot(plots.sensitivity_plot, results, root, f"layer_sensitivity_{slugs(results.config)[i]}", i)
        if i == lead:
            deck += [Slide(say.sensitivity(results, i), fig), *_topk_slides(results, i)]
            deck += _side_by_side(results, root)
        else:
            extras.append(Slide(say.sensitivity(results, i), fig, shown=False))
        extras += _gallery_files(results, root, i)
    shown = {"ranking_stability": say.stability, "noise_baseline": say.noise, "patching_undone": cause_line}
    for key, draw in SECTION_PLOTS.items():
        if key in keys and key in shown:
            deck.append(Slide(shown[key](results), _plot(draw, results, root, key)))
            if key == "noise_baseline":
                deck += _overlap_at_lead(results, root, keys)
        elif key in keys:
            extras.append(Slide(key, _plot(draw, results, root, key), shown=False))
    for recipe in rendered_recipes(results):
        if f"diversity_{recipe}" in keys:
            figs = _grid(
                lambda style, r=recipe: slide_grids.diversity(results.renders, root, r, style),
                root,
                f"diversity_{recipe}",
            )
            extras += [Slide(f"diversity_{recipe}", fig, shown=False) for fig in figs]
    return deck + extras


# The sections' plots redrawn for slides, in the report's order.
SECTION_PLOTS = {
    "ranking_stability": trust_plots.stability_plot,
    "noise_baseline": trust_plots.noise_plot,
    "ranking_convergence": trust_plots.convergence_plot,
    "ranking_per_class": trust_plots.per_class_plot,
    "attack_overlap": attack_plots.overlap_plot,
    "attack_collapse": attack_plots.collapse_plot,
    "patching_undone": patch_plots.undone_plot,
    "patching_layers": patch_plots.layer_plot,
}


def _example_slides(results: Results, root: Path) -> list[Slide]:
    """One slide per example image, every class; the deck shows the first (the rest are files)."""
    out: list[Slide] = []
    for name, s in class_slugs(results.classes).items():
        for n, ex in enumerate([ex for ex in results.examples if ex.class_ == name], start=1):
            pictures = _grid(
                lambda style, ex=ex: [slide_grids.example(results.config, root, ex, style)], root, f"examples_{s}_{n}"
            )
            out.append(Slide(say.example(results.config, ex), pictures[0], shown=not out))
    return out


def _overlap_at_lead(results: Results, root: Path, keys: set[str]) -> list[Slide]:
    """The attacks' top-k overlap at the leading ε only: few cells, each with its number."""
    lead, title = main_index(results), say.attacks(results)
    if "attack_overlap" not in keys or lead is None or title is None:
        return []
    stem = f"attack_overlap_{slugs(results.config)[lead]}"
    return [Slide(title, _plot(partial(attack_plots.overlap_plot, eps_index=lead), results, root, stem))]


def _renders(renders: list[Render]) -> dict:
    return {(r.model, r.layer, r.channel, r.recipe): r for r in renders}


def _side_by_side(results: Results, root: Path) -> list[Slide]:
    """The leading ε's gallery with both models on one slide, first rendered recipe."""
    i, recipes = main_index(results), rendered_recipes(results)
    if i is None or not recipes:
        return []
    renders, recipe = _renders(results.renders), recipes[0]

    def tiles(style):
        return slide_grids.side_by_side(results, root, renders, i, recipe, style)

    stem = f"gallery_{slugs(results.config)[i]}_{recipe}"
    return [Slide(say.gallery(results, i, recipe), fig) for fig in _grid(tiles, root, stem, slide_grids.GALLERY_GRID)]


def _gallery_files(results: Results, root: Path, i: int) -> list[Slide]:
    """Each model's gallery at eps index ``i``, per recipe, as slide-sized files."""
    renders, out = _renders(results.renders), []
    for recipe in rendered_recipes(results):
        for m in MODELS:

            def tiles(style, recipe=recipe, m=m):
                return slide_grids.gallery(results, root, renders, i, recipe, m, style)

            stem = f"gallery_{slugs(results.config)[i]}_{recipe}_{m}"
            out += [Slide(stem, fig, shown=False) for fig in _grid(tiles, root, stem, slide_grids.GALLERY_GRID)]
    return out


def _plot(draw, results: Results, root: Path, stem: str, *args) -> SlideFigure:
    """Draw a plot at slide size; it is placed at its own width, so text keeps its size in points."""
    fig = draw(results, root, stem, *args, look=SLIDE)
    width = fig.get_figwidth()
    folder = root.joinpath(*SLIDE.folder)
    return SlideFigure(stem, folder / f"{stem}.png", folder / f"{stem}.svg", width * 25.4, smallest_text_pt(fig, width))


def _grid(make, root: Path, stem: str, style: GridStyle = SLIDE_GRID) -> list[SlideFigure]:
    """Compose the pictures ``make(style)`` returns, with larger text until every one reaches the
    slide minimum once placed as large as the image area allows; write them ``stem``, ``stem_2``..."""
    for step in range(4):
        font_px = style.font_px + 4 * step
        trial = replace(style, font_px=font_px, line_px=round(1.36 * font_px))
        images = make(trial)
        placed = [_placed(img, trial) for img in images]
        if min(pt for _, pt in placed) >= SLIDE_MIN_PT + 0.2:
            break
    out = []
    for n, (img, (width, pt)) in enumerate(zip(images, placed), start=1):
        key = stem + (f"_{n}" if n > 1 else "")
        path = output(root, *SLIDE.folder, f"{key}.png")
        save_image(img, path)
        out.append(SlideFigure(key, path, None, width * 25.4, pt))
    return out


def _placed(img: Image.Image, style: GridStyle) -> tuple[float, float]:
    """(width in inches, smallest text in points) of ``img`` with its border, fitted to the image area."""
    area_w, area_h = SLIDE_AREA_IN
    w, h = img.width + 2 * PAD, img.height + 2 * PAD
    width = min(area_w, area_h * w / h)
    return width, image_text_pt(style.font_px, w, width)


def _topk_slides(results: Results, i: int) -> list[Slide]:
    """The top-k table at eps index ``i``, both models side by side, ``TABLE_ROWS`` rows a slide
    (one slide for the usual top-k)."""
    rows = {m: trust.topk_rows(results, m, i) for m in MODELS}
    longest = max(len(r) for r in rows.values())
    out = []
    for start in range(0, max(longest, 1), TABLE_ROWS):
        part = {m: rows[m][start : start + TABLE_ROWS] for m in MODELS}
        table = {"eps": results.config.eps_labels[i], "rows": part, "first": start + 1}
        out.append(Slide(say.top_channels(results, i), table=table))
    return out


def provenance(results: Results) -> list[tuple[str, str]]:
    """Where the numbers come from, all from results.json: what a listener may ask after the talk."""
    config, env = results.config, results.environment
    models = [
        (
            f"{m.capitalize()} model",
            f"{results.models.of(m).name} ({results.models.of(m).arch}), sha256 {results.models.of(m).sha256[:12]}",
        )
        for m in MODELS
    ]
    return [
        *models,
        ("Data", str(config.data or config.preset or "–")),
        ("Classes", ", ".join(c.name for c in results.classes)),
        ("Images", f"{results.n_images} ({config.n_images} per class)"),
        ("ε", ", ".join(config.eps_labels)),
        ("Attacks", ", ".join(attack_label(a) for a in config.attack)),
        ("Top-k, seed", f"{config.top_k} channels per model, seed {config.seed}"),
        ("Software", f"rnnviz {env.rnnviz}" + (f", torch {torch}" if (torch := env.entries().get("torch")) else "")),
        ("Created", results.created.isoformat(sep=" ")),
    ]
