"""The figure catalogue: which figures a report has, in reading order, with their captions.

Plots are drawn by ``plots``; grids of images are composed here from results.json with the
generic ``grids`` toolkit. Every file is written under ``figures/`` through ``safety.output``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from rnnviz.common.errors import UsageError
from rnnviz.common.names import COLOURS, MODELS, MUTED, RIGHT, WRONG, eps_slugs, slug
from rnnviz.report.figures import plots
from rnnviz.report.figures.grids import (
    PAD,
    TILE,
    Cell,
    Line,
    arrange,
    fit,
    grid,
    hstack,
    save_image,
    text_image,
    vstack,
)
from rnnviz.report.sections import attacks as attack_section
from rnnviz.report.sections import matching as matching_section
from rnnviz.report.sections import patching as patch_section
from rnnviz.report.sections import trust
from rnnviz.report.text.summary import attack_name, eps_text, pct
from rnnviz.report.validate.safety import output, regular_file

PER_ROW = 5
RECIPE_NOTES = {
    "lucid": "Lucid recipe: decorrelated Fourier parameterization with transformation "
    "robustness, a prior that makes even a standard model's channels look structured.",
    "raw": "Raw recipe: plain gradient ascent in pixel space with no prior and no transforms "
    "(Engstrom et al. 2019), so what appears is what the model itself prefers.",
    "accent": "Accent recipe: optimization from the channel's best real image with a pull back towards it, "
    "so it shows what the channel amplifies in a real input.",
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


def make_figures(results: dict, root: Path) -> list[ReportFigure]:
    """Write every figure under ``root/figures`` and return them in reading order."""
    figures = [_accuracy(results, root), _per_class(results, root)]
    figures += [
        _examples(results, root, name, s) for name, s in class_slugs(results).items() if _examples_of(results, name)
    ]
    figures += [_sensitivity(results, root, i) for i in attacked_indices(results)]
    figures += matching_section.figures(results, root, _figure)
    figures += attack_section.figures(results, root, _figure)
    figures += trust.figures(results, root, _figure)
    figures += patch_section.figures(results, root, _figure)
    renders = {(r["model"], r["layer"], r["channel"], r["recipe"]): r for r in results["renders"]}
    for i in attacked_indices(results):
        figures += [_gallery(results, root, renders, i, recipe) for recipe in rendered_recipes(results)]
    figures += [
        _diversity(results, root, recipe)
        for recipe in rendered_recipes(results)
        if any(r["diversity"] for r in results["renders"] if r["recipe"] == recipe)
    ]
    return figures


def attacked_indices(results: dict) -> list[int]:
    """Indices of eps > 0: at eps 0 every sensitivity is zero and there is nothing to show."""
    return [i for i, e in enumerate(results["config"]["eps"]) if e > 0]


def rendered_recipes(results: dict) -> list[str]:
    present = {r["recipe"] for r in results["renders"]}
    return [r for r in results["config"]["recipes"] if r in present] + sorted(
        present - set(results["config"]["recipes"])
    )


def class_slugs(results: dict) -> dict[str, str]:
    """Class name -> a unique file-name-safe slug (``t-shirt/top`` -> ``t-shirt-top``); a slug
    already taken gets the class index appended."""
    slugs: dict[str, str] = {}
    for c in results["classes"]:
        s = slug(c["name"])
        if s in slugs.values():
            s = f"{s}-{c['index']}"
        slugs[c["name"]] = s
    return slugs


def sensitivity_key(results: dict, i: int) -> str:
    return f"layer_sensitivity_{eps_slugs(results['config'])[i]}"


def gallery_key(results: dict, i: int, recipe: str) -> str:
    return f"gallery_{eps_slugs(results['config'])[i]}_{recipe}"


def _figure(root: Path, key: str, title: str, caption: str, svg: bool = False) -> ReportFigure:
    return ReportFigure(
        key, title, caption, root / "figures" / f"{key}.png", root / "figures" / f"{key}.svg" if svg else None
    )


# ---------------------------------------------------------------- plots


def _accuracy(results: dict, root: Path) -> ReportFigure:
    plots.accuracy_plot(results, root, "accuracy_vs_eps")
    spot = plots.sweet_spot_lead(results)
    if spot is not None:
        b, lead = spot
        sweet = (
            f"The shaded band marks the sweet spot, ε = {eps_text(results, b)}, where the robust "
            f"model's lead is largest ({100 * lead:.0f} percentage points)."
        )
    else:
        sweet = "The robust model is never ahead at these ε, so no sweet spot is marked."
    return _figure(
        root,
        "accuracy_vs_eps",
        "Accuracy under attack vs ε",
        f"Share of the {results['n_images']} test images each model classifies correctly after "
        f"an ε-sized {attack_name(results)} attack (each model attacked with its own gradient). "
        f"Tick labels give ε in [0, 1] pixel units and, below, in /255. {sweet} "
        f"{attack_name(results)} accuracy is an upper bound on robust accuracy: a stronger "
        f"attack such as PGD can only lower it. {attack_section.accuracy_caption(results)}".rstrip(),
        svg=True,
    )


def _per_class(results: dict, root: Path) -> ReportFigure:
    plots.per_class_plot(results, root, "accuracy_per_class")
    return _figure(
        root,
        "accuracy_per_class",
        "Accuracy under attack vs ε, per class",
        f"One panel per class, same axes, colours and markers as the overall curve: the share of that "
        f"class's test images each model still classifies correctly under {attack_name(results)}. "
        "A class where the two curves stay close gains little from adversarial training.",
        svg=True,
    )


def _sensitivity(results: dict, root: Path, i: int) -> ReportFigure:
    key = sensitivity_key(results, i)
    plots.sensitivity_plot(results, root, key, i)
    return _figure(
        root,
        key,
        f"Layer sensitivity at ε = {eps_text(results, i)}",
        "Mean relative σ of each hooked layer's channels (σ divided by the channel's mean clean "
        "activation |F|, so both models are measured in units of their own activation size), "
        f"layers in network order, each model under its own {attack_name(results)} attack (standard "
        f"hatched); error "
        f"bars give the {100 * results['bootstrap']['level']:.0f}% bootstrap interval. A taller bar "
        "means the layer's activations move more, relative to their size. Every ε uses the same y "
        "scale; raw σ per layer is in the noise-baseline table and the layer CSV.",
        svg=True,
    )


# ---------------------------------------------------------------- image grids


def _examples_of(results: dict, name: str) -> list[dict]:
    return [ex for ex in results["examples"] if ex["class"] == name]


def _examples(results: dict, root: Path, name: str, s: str) -> ReportFigure:
    blocks = [_example_block(results, root, ex, n + 1) for n, ex in enumerate(_examples_of(results, name))]
    save_image(arrange(blocks), output(root, "figures", f"examples_{s}.png"))
    return _figure(
        root,
        f"examples_{s}",
        f"Adversarial examples: {name}",
        "Top: the clean image (small) and its true label. Each row is one ε. Per model: the "
        "adversarial image it was given, with its prediction and confidence (✓ in an outlined "
        "green frame: right; ✗ white on a filled dark badge: wrong), and the perturbation amplified "
        "to full contrast (grey: no change; "
        "white / black: +ε / −ε). Each model is attacked with its own gradient, so the "
        "perturbations differ. Small images are enlarged without smoothing.",
    )


def _example_block(results: dict, root: Path, ex: dict, n: int) -> Image.Image:
    """Header: the clean image and its true label; then one row per eps."""
    config = results["config"]
    header = hstack(
        [
            load_tile(root, ex["image"], TILE // 2),
            text_image(
                [Line(f"Example {n}", bold=True), Line(f"true label: {ex['true_label']}"), Line("clean image", MUTED)]
            ),
        ],
        gap=PAD,
    )
    heads = [[Line(m, COLOURS[m], True), Line(what)] for m in MODELS for what in ("adversarial", "perturbation")]
    row_heads = [
        [Line(f"ε = {config['eps_labels'][i]}", bold=True), Line(config["eps_255"][i], MUTED)]
        for i in range(len(ex["by_eps"]))
    ]
    rows = [[cell for m in MODELS for cell in _attacked_cells(root, entry, m)] for entry in ex["by_eps"]]
    return vstack([header, grid(rows, col_heads=heads, row_heads=row_heads)], gap=PAD)


def _attacked_cells(root: Path, entry: dict, model: str) -> tuple[Cell, Cell]:
    shot = entry[model]
    verdict = Cell(load_tile(root, shot["image"]), [verdict_line(shot)])
    delta = Cell(note="no perturbation") if entry["eps"] == 0 else Cell(load_tile(root, shot["perturbation"]))
    return verdict, delta


def verdict_line(shot: dict) -> Line:
    """✓ outlined in RIGHT, or ✗ white on a filled WRONG badge: told apart by shape, not colour only."""
    text = f"{shot['pred']} {pct(shot['confidence'])}"
    if shot["correct"]:
        return Line(f"✓ {text}", RIGHT, True, badge="outline")
    return Line(f"✗ {text}", WRONG, True, badge="filled")


def _gallery(results: dict, root: Path, renders: dict, i: int, recipe: str) -> ReportFigure:
    panels = []
    for m in MODELS:
        p_top = {(r["layer"], r["channel"]): r["p_top"] for r in results["ranking"][m][i]["top"]}
        cells = [
            channel_cell(
                root, renders.get((m, c["layer"], c["channel"], recipe)), c, p_top.get((c["layer"], c["channel"]))
            )
            for c in results["top_channels"][m][i]
        ]
        rows: list[list[Cell | None]] = [list(cells[j : j + PER_ROW]) for j in range(0, len(cells), PER_ROW)] or [
            [None]
        ]
        panels.append(
            vstack([text_image([Line(plots.model_label(results, m), COLOURS[m], True)]), grid(rows)], gap=PAD)
        )
    key = gallery_key(results, i, recipe)
    save_image(hstack(panels, gap=64), output(root, "figures", f"{key}.png"))
    return _figure(
        root,
        key,
        f"Most sensitive channels at ε = {eps_text(results, i)}, {recipe} renders",
        f"Left: the standard model's top {results['config']['top_k']} channels by sensitivity σ "
        "at this ε; right: the robust model's. Each tile is an image optimized to excite one "
        "channel, captioned layer · channel · σ and the share of bootstrap resamples that put "
        f'the channel in the top-k († below one half). {RECIPE_NOTES.get(recipe, "")} "dead channel": '
        'the channel\'s activation stayed at zero, so there is nothing to show. "weak": the render excites '
        "its channel less than the best real image does (activation relative to it below 1×).",
    )


def channel_cell(root: Path, render: dict | None, channel: dict, p_top: float | None = None, size: int = TILE) -> Cell:
    caption = [Line(f"{channel['layer']} · ch {channel['channel']} · σ={channel['sensitivity']:.2g}")]
    if p_top is not None:
        caption.append(
            Line(
                f"in top-k {pct(p_top)}{' †' if p_top < trust.UNSURE else ''}", WRONG if p_top < trust.UNSURE else MUTED
            )
        )
    if render is None:
        return Cell(note="not rendered", lines=caption)
    if render["dead"]:
        return Cell(note="dead channel", lines=caption)
    rel = render.get("relative_activation")
    if rel is not None and rel < 1:  # text, not colour only: the render is below the best real image
        caption.append(Line(f"weak: {rel:.2f}× best real image", WRONG))
    return Cell(load_tile(root, render["image"], size), caption)


def _diversity(results: dict, root: Path, recipe: str) -> ReportFigure:
    chosen = [r for r in results["renders"] if r["recipe"] == recipe and r["diversity"]]
    width = 1 + max(len(r["diversity"]) for r in chosen)
    heads = [[Line("render")]] + [[Line(f"diverse {d + 1}")] for d in range(width - 1)]
    row_heads = [
        [Line(r["model"], COLOURS[r["model"]], True), Line(f"{r['layer']} · ch {r['channel']}")] for r in chosen
    ]
    rows = [[Cell(load_tile(root, p)) for p in [r["image"], *r["diversity"]]] for r in chosen]
    save_image(grid(rows, col_heads=heads, row_heads=row_heads), output(root, "figures", f"diversity_{recipe}.png"))
    return _figure(
        root,
        f"diversity_{recipe}",
        f"Diversity of channel visualizations, {recipe} renders",
        "Each row is one channel: its main render, then several images optimized together to "
        "excite it while differing from each other. Images that look alike mean the channel "
        "responds to one pattern; different images mean it responds to several.",
    )


def load_tile(root: Path, rel: str, size: int = TILE) -> Image.Image:
    """An image named in results.json (already validated; checked again before it is opened)."""
    path = regular_file(root, rel, "an image")
    try:
        with Image.open(path) as img:
            return fit(img.convert("RGB"), size)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise UsageError(
            f"{rel}, named in results.json, is not a readable image "
            f"({type(err).__name__}): re-run the job that wrote the folder"
        ) from None
