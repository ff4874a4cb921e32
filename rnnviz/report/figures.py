"""The report's figures: matplotlib plots (PNG + SVG) and Pillow-composited image grids (PNG).

WeasyPrint paginates CSS grids of images badly, so every grid of images is composited
into one PNG here. Plots use matplotlib's object API (no pyplot, no global backend or
rcParams change), so rendering a report never touches a GUI or the caller's settings.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import matplotlib
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from PIL import Image, ImageDraw, ImageFont, ImageOps

from rnnviz.fileio import atomic_path
from rnnviz.report.summary import MODELS, attack_name, eps_text, pct

COLOURS = {"standard": "#D55E00", "robust": "#0072B2"}  # Okabe-Ito: colour-blind safe
RIGHT, WRONG, INK, MUTED = "#1B7F3A", "#C62828", "#222222", "#666666"
DPI = 200
STYLE = {
    "font.family": "DejaVu Sans", "font.size": 11, "axes.titlesize": 12,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.alpha": 0.3, "legend.frameon": False,
    "svg.fonttype": "path",  # text as outlines: renders the same in every viewer
    "svg.hashsalt": "rnnviz",  # stable element ids, so the SVG is byte-identical run to run
    "savefig.bbox": "tight",
}
TILE, FONT_PX, LINE_PX, PAD, PER_ROW = 168, 17, 22, 8, 5  # 168 = 6 x 28 = 3 x 56 px
RECIPES = {
    "lucid": "Lucid recipe: decorrelated Fourier parameterization with transformation "
             "robustness, a prior that makes even a standard model's channels look structured.",
    "raw": "Raw recipe: plain gradient ascent in pixel space with no prior and no transforms "
           "(Engstrom et al. 2019), so what appears is what the model itself prefers.",
}


@dataclass
class ReportFigure:
    """One numbered figure of the report; ``number`` is given by the HTML in reading order."""
    key: str
    title: str
    caption: str
    png: Path
    svg: Path | None = None
    number: int = 0


@dataclass
class Line:
    text: str
    colour: str = INK
    bold: bool = False


@dataclass
class Cell:
    """A tile: an image, or a ``note`` written in its place, with caption lines below."""
    image: Image.Image | None = None
    lines: list[Line] = field(default_factory=list)
    note: str | None = None


def make_figures(results: dict, root: Path) -> list[ReportFigure]:
    """Write every figure under ``root/figures`` and return them in reading order."""
    out = root / "figures"
    figures = [_accuracy_figure(results, out), _per_class_figure(results, out)]
    figures += [_examples_figure(results, root, name, slug)
                for name, slug in class_slugs(results).items() if _examples_of(results, name)]
    figures += [_sensitivity_figure(results, out, i) for i in attacked_indices(results)]
    renders = {(r["model"], r["layer"], r["channel"], r["recipe"]): r for r in results["renders"]}
    for i in attacked_indices(results):
        figures += [_gallery_figure(results, root, renders, i, recipe)
                    for recipe in rendered_recipes(results)]
    figures += [_diversity_figure(results, root, recipe) for recipe in rendered_recipes(results)
                if any(r["diversity"] for r in results["renders"] if r["recipe"] == recipe)]
    return figures


def attacked_indices(results: dict) -> list[int]:
    """Indices of eps > 0: at eps 0 every sensitivity is zero and there is nothing to show."""
    return [i for i, e in enumerate(results["config"]["eps"]) if e > 0]


def rendered_recipes(results: dict) -> list[str]:
    present = {r["recipe"] for r in results["renders"]}
    return [r for r in results["config"]["recipes"] if r in present] + sorted(
        present - set(results["config"]["recipes"]))


def class_slugs(results: dict) -> dict[str, str]:
    """Class name -> a unique file-name-safe slug (``t-shirt/top`` -> ``t-shirt_top``)."""
    slugs: dict[str, str] = {}
    for c in results["classes"]:
        slug = re.sub(r"[^A-Za-z0-9-]+", "_", c["name"]).strip("_").lower() or "class"
        if slug in slugs.values():
            slug = f"{slug}_{c['index']}"
        slugs[c["name"]] = slug
    return slugs


# ---------------------------------------------------------------- plots


def _accuracy_figure(results: dict, out: Path) -> ReportFigure:
    eps, acc = results["config"]["eps"], results["accuracy"]
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7, 4.6), layout="constrained")
        ax = fig.subplots()
        for m in MODELS:
            ax.plot(eps, acc[m], marker="o", lw=2, color=COLOURS[m], label=_model_label(results, m))
        sweet = _mark_sweet_spot(ax, results)
        _eps_axis(ax, results, both_forms=True)
        ax.set_ylabel(f"accuracy under {attack_name(results)}")
        _legend_on_top(fig, ax)
        _save_plot(fig, out, "accuracy_vs_eps")
    return ReportFigure(
        "accuracy_vs_eps", "Accuracy under attack vs ε",
        f"Share of the {results['n_images']} test images each model classifies correctly after "
        f"an ε-sized {attack_name(results)} attack (each model attacked with its own gradient). "
        f"Tick labels give ε in [0, 1] pixel units and, below, in /255. {sweet} "
        f"{attack_name(results)} accuracy is an upper bound on robust accuracy: a stronger "
        "attack such as PGD can only lower it.",
        out / "accuracy_vs_eps.png", out / "accuracy_vs_eps.svg")


def _mark_sweet_spot(ax, results: dict) -> str:
    """Shade the eps where the robust model leads most; return the caption's sentence on it."""
    eps, acc = results["config"]["eps"], results["accuracy"]
    b = results["sweet_spot"]["best_index"]
    lead = acc["robust"][b] - acc["standard"][b] if b is not None else 0.0
    if b is None or eps[b] == 0 or lead <= 0:
        return "The robust model is never ahead at these ε, so no sweet spot is marked."
    gaps = [eps[j + 1] - eps[j] for j in (b - 1, b) if 0 <= j < len(eps) - 1]
    half = 0.3 * min(gaps or [eps[b]])
    ax.axvspan(eps[b] - half, eps[b] + half, color="#888888", alpha=0.15, lw=0)
    middle = (acc["robust"][b] + acc["standard"][b]) / 2  # between the curves, clear of both
    ax.annotate(f"sweet spot\nrobust +{100 * lead:.0f} pts", (eps[b], middle), ha="center",
                va="center", fontsize=10, color=MUTED)
    return (f"The shaded band marks the sweet spot, ε = {eps_text(results, b)}, where the robust "
            f"model's lead is largest ({100 * lead:.0f} percentage points).")


def _per_class_figure(results: dict, out: Path) -> ReportFigure:
    names = [c["name"] for c in results["classes"]]
    ncols = min(len(names), 4)
    nrows = math.ceil(len(names) / ncols)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(3.4 * ncols, 2.9 * nrows + 0.5), layout="constrained")
        axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
        for ax, name in zip(axes, names):
            for m in MODELS:
                ax.plot(results["config"]["eps"], results["accuracy_per_class"][m][name],
                        marker="o", lw=1.8, color=COLOURS[m], label=_model_label(results, m))
            ax.set_title(_plain(name))
            _eps_axis(ax, results, both_forms=False)
        for ax in axes[len(names):]:
            ax.set_visible(False)
        _legend_on_top(fig, axes[0])
        _save_plot(fig, out, "accuracy_per_class")
    return ReportFigure(
        "accuracy_per_class", "Accuracy under attack vs ε, per class",
        f"One panel per class, same axes and colours as the overall curve: the share of that "
        f"class's test images each model still classifies correctly under {attack_name(results)}. "
        "A class where the two curves stay close gains little from adversarial training.",
        out / "accuracy_per_class.png", out / "accuracy_per_class.svg")


def _sensitivity_figure(results: dict, out: Path, i: int) -> ReportFigure:
    layers = _layers_in_order(results)
    top = max(max(per_eps.values(), default=0) for m in MODELS
              for per_eps in results["layer_sensitivity"][m])
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7, 4.6), layout="constrained")
        ax = fig.subplots()
        for k, m in enumerate(MODELS):
            values = [results["layer_sensitivity"][m][i].get(layer, 0.0) for layer in layers]
            ax.bar([x + (k - 0.5) * 0.4 for x in range(len(layers))], values, width=0.4,
                   color=COLOURS[m], label=_model_label(results, m))
        crowded = sum(len(layer) for layer in layers) > 36  # labels would touch side by side
        ax.set_xticks(range(len(layers)), [_plain(layer) for layer in layers],
                      rotation=30 if crowded else 0, ha="right" if crowded else "center",
                      rotation_mode="anchor")
        ax.set_ylim(0, 1.1 * top or 1)
        ax.grid(axis="x", visible=False)
        ax.set_xlabel("layer (input → output)")
        ax.set_ylabel("mean channel sensitivity σ")
        ax.set_title(f"ε = {eps_text(results, i)}")
        _legend_on_top(fig, ax)
        _save_plot(fig, out, f"layer_sensitivity_eps{i}")
    return ReportFigure(
        f"layer_sensitivity_eps{i}", f"Layer sensitivity at ε = {eps_text(results, i)}",
        "Mean sensitivity σ of each hooked layer's channels, layers in network order, for both "
        f"models, each under its own {attack_name(results)} attack. A taller bar means the "
        "layer's activations move more under the perturbation. Every ε uses the same y scale, so "
        "these figures can be compared with each other.",
        out / f"layer_sensitivity_eps{i}.png", out / f"layer_sensitivity_eps{i}.svg")


def _layers_in_order(results: dict) -> list[str]:
    """The configured layer order (network order), then any layer the config does not list."""
    seen = [layer for per_eps in results["layer_sensitivity"]["standard"] for layer in per_eps]
    configured = [layer for layer in results["config"]["layers"] if layer in seen]
    return configured + [layer for layer in dict.fromkeys(seen) if layer not in configured]


def _eps_axis(ax, results: dict, both_forms: bool) -> None:
    config = results["config"]
    labels = ([f"{a}\n{b}" for a, b in zip(config["eps_labels"], config["eps_255"])]
              if both_forms else config["eps_labels"])
    ax.set_xticks(config["eps"], labels, fontsize=9)
    ax.set_xlabel("ε")
    ax.set_ylim(0, 1.04)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))


def _legend_on_top(fig: Figure, ax) -> None:
    """Above the axes, where it can never hide data."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=2)


def _model_label(results: dict, model: str) -> str:
    return f"{model} ({_plain(results['models'][model]['name'])})"


def _plain(text: str) -> str:
    """Escape ``$`` so a name is drawn as written, never parsed as mathtext."""
    return text.replace("$", r"\$")


def _save_plot(fig: Figure, out: Path, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / f"{stem}.png") as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    with atomic_path(out / f"{stem}.svg") as tmp:
        fig.savefig(tmp, format="svg", metadata={"Date": None})


# ---------------------------------------------------------------- image grids


def _examples_of(results: dict, name: str) -> list[dict]:
    return [ex for ex in results["examples"] if ex["class"] == name]


def _examples_figure(results: dict, root: Path, name: str, slug: str) -> ReportFigure:
    blocks = [_example_block(results, root, ex, n + 1)
              for n, ex in enumerate(_examples_of(results, name))]
    path = root / "figures" / f"examples_{slug}.png"
    _save_image(_arrange(blocks), path)
    return ReportFigure(
        f"examples_{slug}", f"Adversarial examples: {name}",
        "Top: the clean image (small) and its true label. Each row is one ε. Per model: the "
        "adversarial image it was given, with its prediction and confidence (green ✓ right, "
        "red ✗ wrong), and the perturbation amplified to full contrast (grey: no change; "
        "white / black: +ε / −ε). Each model is attacked with its own gradient, so the "
        "perturbations differ. Small images are enlarged without smoothing.", path)


def _arrange(blocks: list[Image.Image], aspect: float = 1.9, gap: int = 48) -> Image.Image:
    """Rows of blocks, as many per row as makes them largest on a landscape page (width/height
    ``aspect``) or slide."""
    def layout(per_row: int) -> Image.Image:
        rows = [_hstack(blocks[j:j + per_row], gap) for j in range(0, len(blocks), per_row)]
        return _vstack(rows, gap)

    def scale(img: Image.Image) -> float:
        return min(aspect / img.width, 1 / img.height)

    return max((layout(k) for k in range(1, len(blocks) + 1)), key=scale)


def _example_block(results: dict, root: Path, ex: dict, n: int) -> Image.Image:
    """Header: the clean image and its true label; then one row per eps."""
    config = results["config"]
    header = _hstack([_load(root, ex["image"], TILE // 2), _text_image(
        [Line(f"Example {n}", bold=True), Line(f"true label: {ex['true_label']}"),
         Line("clean image", MUTED)])], gap=PAD)
    heads = [[Line(m, COLOURS[m], True), Line(what)] for m in MODELS
             for what in ("adversarial", "perturbation")]
    row_heads = [[Line(f"ε = {config['eps_labels'][i]}", bold=True),
                  Line(config["eps_255"][i], MUTED)] for i in range(len(ex["by_eps"]))]
    rows = [[cell for m in MODELS for cell in _attacked_cells(root, entry, m)]
            for entry in ex["by_eps"]]
    return _vstack([header, _grid(rows, col_heads=heads, row_heads=row_heads)], gap=PAD)


def _attacked_cells(root: Path, entry: dict, model: str) -> tuple[Cell, Cell]:
    shot = entry[model]
    mark, colour = ("✓", RIGHT) if shot["correct"] else ("✗", WRONG)
    verdict = Cell(_load(root, shot["image"]),
                   [Line(f"{mark} {shot['pred']} {pct(shot['confidence'])}", colour)])
    delta = (Cell(note="no perturbation") if entry["eps"] == 0
             else Cell(_load(root, shot["perturbation"])))
    return verdict, delta


def _gallery_figure(results: dict, root: Path, renders: dict, i: int, recipe: str) -> ReportFigure:
    panels = []
    for m in MODELS:
        cells = [_channel_cell(root, renders.get((m, c["layer"], c["channel"], recipe)), c)
                 for c in results["top_channels"][m][i]]
        grid = _grid([cells[j:j + PER_ROW] for j in range(0, len(cells), PER_ROW)] or [[None]])
        panels.append(_vstack([_text_image([Line(_model_label(results, m), COLOURS[m], True)]),
                               grid], gap=PAD))
    path = root / "figures" / f"gallery_eps{i}_{recipe}.png"
    _save_image(_hstack(panels, gap=64), path)
    return ReportFigure(
        f"gallery_eps{i}_{recipe}",
        f"Most sensitive channels at ε = {eps_text(results, i)}, {recipe} renders",
        f"Left: the standard model's top {results['config']['top_k']} channels by sensitivity σ "
        "at this ε; right: the robust model's. Each tile is an image optimized to excite one "
        f"channel, captioned layer · channel · σ. {RECIPES.get(recipe, '')} \"dead channel\": "
        "the channel's activation stayed at zero, so there is nothing to show.",
        path)


def _channel_cell(root: Path, render: dict | None, channel: dict) -> Cell:
    caption = [Line(f"{channel['layer']} · ch {channel['channel']} · σ={channel['sensitivity']:.2g}")]
    if render is None:
        return Cell(note="not rendered", lines=caption)
    if render["dead"]:
        return Cell(note="dead channel", lines=caption)
    return Cell(_load(root, render["image"]), caption)


def _diversity_figure(results: dict, root: Path, recipe: str) -> ReportFigure:
    chosen = [r for r in results["renders"] if r["recipe"] == recipe and r["diversity"]]
    width = 1 + max(len(r["diversity"]) for r in chosen)
    heads = [[Line("render")]] + [[Line(f"diverse {d + 1}")] for d in range(width - 1)]
    row_heads = [[Line(r["model"], COLOURS[r["model"]], True),
                  Line(f"{r['layer']} · ch {r['channel']}")] for r in chosen]
    rows = [[Cell(_load(root, p)) for p in [r["image"], *r["diversity"]]] for r in chosen]
    path = root / "figures" / f"diversity_{recipe}.png"
    _save_image(_grid(rows, col_heads=heads, row_heads=row_heads), path)
    return ReportFigure(
        f"diversity_{recipe}", f"Diversity of channel visualizations, {recipe} renders",
        "Each row is one channel: its main render, then several images optimized together to "
        "excite it while differing from each other. Images that look alike mean the channel "
        "responds to one pattern; different images mean it responds to several.", path)


def _load(root: Path, rel: str, size: int = TILE) -> Image.Image:
    with Image.open(root / rel) as img:
        return _fit(img.convert("RGB"), size)


def _fit(img: Image.Image, size: int) -> Image.Image:
    """Enlarge small images by a whole factor with NEAREST (crisp pixels); shrink large ones."""
    side = max(img.size)
    if side <= size:
        k = max(1, size // side)
        return img.resize((img.width * k, img.height * k), Image.Resampling.NEAREST)
    scale = size / side
    return img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)


@lru_cache(maxsize=2)
def _font(bold: bool) -> ImageFont.FreeTypeFont:
    path = font_manager.findfont(font_manager.FontProperties(
        family="DejaVu Sans", weight="bold" if bold else "normal"))
    return ImageFont.truetype(path, FONT_PX)


def _wrap(lines: list[Line], width: int) -> list[Line]:
    """Break lines to ``width`` px, preferring the `` · `` separators, then spaces."""
    wrapped = []
    for line in lines:
        font = _font(line.bold)
        for sep in (" · ", " "):
            parts, current = [], ""
            for token in line.text.split(sep):
                candidate = f"{current}{sep}{token}" if current else token
                if current and font.getlength(candidate) > width:
                    parts.append(current)
                    candidate = token
                current = candidate
            parts.append(current)
            if all(font.getlength(p) <= width for p in parts) or sep == " ":
                break
        wrapped += [Line(p, line.colour, line.bold) for p in parts]
    return wrapped


def _grid(rows: list[list[Cell | None]], *, col_heads: list[list[Line]] | None = None,
          row_heads: list[list[Line]] | None = None) -> Image.Image:
    """Tiles of TILE px with wrapped captions; optional header lines above columns / left of rows."""
    ncols = max(len(r) for r in rows)
    cell_w = TILE + PAD
    captions = [[_wrap(c.lines, TILE) if c else [] for c in row] for row in rows]
    row_h = [TILE + PAD + LINE_PX * max((len(c) for c in caps), default=0) + PAD for caps in captions]
    heads = [_wrap(h, TILE) for h in col_heads] if col_heads else []
    head_h = LINE_PX * max((len(h) for h in heads), default=0) + (PAD if heads else 0)
    left = (max(_font(ln.bold).getlength(ln.text) for h in row_heads for ln in h) + 3 * PAD
            if row_heads else 0)
    canvas = Image.new("RGB", (int(left) + ncols * cell_w, head_h + sum(row_h)), "white")
    draw = ImageDraw.Draw(canvas)
    for j, head in enumerate(heads):
        _text(draw, head, int(left) + j * cell_w, 0, centre_in=TILE)
    y = head_h
    for r, row in enumerate(rows):
        if row_heads:
            _text(draw, row_heads[r], PAD, y + TILE // 2 - LINE_PX * len(row_heads[r]) // 2)
        for j, cell in enumerate(row):
            if cell:
                _draw_cell(canvas, draw, cell, captions[r][j], int(left) + j * cell_w, y)
        y += row_h[r]
    return canvas


def _draw_cell(canvas: Image.Image, draw: ImageDraw.ImageDraw, cell: Cell, caption: list[Line],
               x: int, y: int) -> None:
    if cell.image is not None:
        canvas.paste(cell.image, (x + (TILE - cell.image.width) // 2, y + (TILE - cell.image.height) // 2))
    else:
        draw.rectangle((x, y, x + TILE - 1, y + TILE - 1), fill="#F4F4F4", outline="#BBBBBB")
        _text(draw, _wrap([Line(cell.note or "", MUTED)], TILE - 2 * PAD), x,
              y + TILE // 2 - LINE_PX // 2, centre_in=TILE)
    _text(draw, caption, x, y + TILE + PAD // 2, centre_in=TILE)


def _text(draw: ImageDraw.ImageDraw, lines: list[Line], x: int, y: int, centre_in: int = 0) -> None:
    for k, line in enumerate(lines):
        font = _font(line.bold)
        dx = (centre_in - font.getlength(line.text)) / 2 if centre_in else 0
        draw.text((x + dx, y + k * LINE_PX), line.text, fill=line.colour, font=font)


def _text_image(lines: list[Line]) -> Image.Image:
    width = int(max(_font(ln.bold).getlength(ln.text) for ln in lines)) + PAD
    out = Image.new("RGB", (width, LINE_PX * len(lines) + PAD // 2), "white")
    _text(ImageDraw.Draw(out), lines, 0, 0)
    return out


def _hstack(images: list[Image.Image], gap: int) -> Image.Image:
    out = Image.new("RGB", (sum(i.width for i in images) + gap * (len(images) - 1),
                            max(i.height for i in images)), "white")
    x = 0
    for img in images:
        out.paste(img, (x, 0))
        x += img.width + gap
    return out


def _vstack(images: list[Image.Image], gap: int) -> Image.Image:
    out = Image.new("RGB", (max(i.width for i in images),
                            sum(i.height for i in images) + gap * (len(images) - 1)), "white")
    y = 0
    for img in images:
        out.paste(img, (0, y))
        y += img.height + gap
    return out


def _save_image(img: Image.Image, path: Path) -> None:
    with atomic_path(path) as tmp:
        ImageOps.expand(img, border=PAD, fill="white").save(tmp, format="PNG", dpi=(DPI, DPI),
                                                            optimize=True)
