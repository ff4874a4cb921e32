"""The figure catalogue: which figures a report has, in reading order, with their captions.

Plots are drawn by ``plots``; the example grids are composed here and the channel galleries in
``channel_grids``, both with the generic ``grids`` toolkit. Every file is written under
``figures/`` through ``safety.output``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from rnnviz.common.names import MODELS, slug
from rnnviz.report.figures import channel_grids, plots
from rnnviz.report.figures.channel_grids import load_tile
from rnnviz.report.figures.figure_workers import prefetch
from rnnviz.report.figures.grids import (
    PAD,
    TILE,
    Cell,
    Line,
    arrange,
    grid,
    hstack,
    save_image,
    text_image,
    vstack,
)
from rnnviz.report.figures.look import COLOURS, MUTED, PLOT_COLOURS, RIGHT, WRONG
from rnnviz.report.sections import attacks as attack_section
from rnnviz.report.sections import matching as matching_section
from rnnviz.report.sections import patching as patch_section
from rnnviz.report.sections import trust
from rnnviz.report.text.claims import measured
from rnnviz.report.text.format import attack_name, eps_text, focus_index, pct, slugs
from rnnviz.report.validate.safety import output
from rnnviz.results.model import Results
from rnnviz.results.model.pictures import Example, ExampleAtEps, Shot
from rnnviz.results.model.run import AnalysedClass, RunConfig


@dataclass
class ReportFigure:
    """One numbered figure of the report; ``number`` is given by the HTML in reading order."""

    key: str
    title: str
    caption: str
    png: Path
    plot: bool = False  # a chart (embedded with a palette), not a grid of pictures
    number: int = 0


# The trust and cause sections' figures that the appendix holds: the brief keeps the headline checks.
DETAIL = ("ranking_convergence", "ranking_per_class", "patching_layers")


def make_figures(results: Results, root: Path) -> list[ReportFigure]:
    """Write every figure under ``root/figures`` and return them in reading order: the brief and its
    main body (accuracy, the leading ε's profile, trust, cause, one gallery), then the appendix."""
    lead, attacked = main_index(results), attacked_indices(results.config)
    profiles = {i: _sensitivity(results, root, i) for i in attacked}
    shown = main_gallery_key(results)
    galleries = channel_grids.figures(results, root, _figure, attacked, rendered_recipes(results), shown)
    figures = [_accuracy(results, root), _per_class(results, root)]
    figures += [profiles[i] for i in attacked if i == lead]
    checks = trust.figures(results, root, _figure) + patch_section.figures(results, root, _figure)
    figures += [f for f in checks if f.key not in DETAIL]
    figures += [g for g in galleries if g.key == shown]
    figures += [
        _examples(results, root, name, s)
        for name, s in class_slugs(results.classes).items()
        if _examples_of(results.examples, name)
    ]
    figures += [profiles[i] for i in attacked if i != lead]
    figures += matching_section.figures(results, root, _figure)
    recipes = rendered_recipes(results)
    matched = channel_grids.matched_gallery(results, root, _figure, lead, recipes[0] if recipes else None)
    figures += [matched] if matched else []
    figures += [f for f in checks if f.key in DETAIL]
    figures += attack_section.figures(results, root, _figure)
    return figures + [g for g in galleries if g.key != shown]


def main_index(results: Results) -> int | None:
    """The ε index the brief and its main body show: the summary's focus, else the first attacked ε."""
    attacked = attacked_indices(results.config)
    i = focus_index(results)
    return i if i in attacked else (attacked[0] if attacked else None)


def main_gallery_key(results: Results) -> str | None:
    """The one gallery of the main body: the leading ε, the first rendered recipe."""
    i, recipes = main_index(results), rendered_recipes(results)
    return channel_grids.gallery_key(results.config, i, recipes[0]) if i is not None and recipes else None


def attacked_indices(config: RunConfig) -> list[int]:
    """Indices of eps > 0: at eps 0 every sensitivity is zero and there is nothing to show."""
    return [i for i, e in enumerate(config.eps) if e > 0]


def rendered_recipes(results: Results) -> list[str]:
    present: set[str] = {r.recipe for r in results.renders}
    return [r for r in results.config.recipes if r in present] + sorted(present - set(results.config.recipes))


def class_slugs(classes: list[AnalysedClass]) -> dict[str, str]:
    """Class name -> a unique file-name-safe slug (``t-shirt/top`` -> ``t-shirt-top``); a slug
    already taken gets the class index appended."""
    slugs: dict[str, str] = {}
    for c in classes:
        s = slug(c.name)
        if s in slugs.values():
            s = f"{s}-{c.index}"
        slugs[c.name] = s
    return slugs


def sensitivity_key(config: RunConfig, i: int) -> str:
    return f"layer_sensitivity_{slugs(config)[i]}"


def _figure(root: Path, key: str, title: str, caption: str, plot: bool = False) -> ReportFigure:
    return ReportFigure(key, title, caption, root / "figures" / f"{key}.png", plot)


# ---------------------------------------------------------------- plots


def _accuracy(results: Results, root: Path) -> ReportFigure:
    plots.accuracy_plot(results, root, "accuracy_vs_eps")
    spot = plots.sweet_spot_lead(results)
    if spot is not None:
        b, lead = spot
        sweet = (
            f"The shaded band marks the sweet spot, ε = {eps_text(results.config, b)}, where the robust "
            f"model's lead under {attack_name(results.config)} is largest ({100 * lead:.0f} percentage points)."
        )
    else:
        sweet = "The robust model is never ahead at these ε, so no sweet spot is marked."
    if measured(results.strong_attack):  # the bold lines are the strongest attack; the caption's last part says so
        what, bound = "under attack", ""
    else:
        what, bound = f"after an ε-sized {attack_name(results.config)} attack", _upper_bound(results.config)
    return _figure(
        root,
        "accuracy_vs_eps",
        "Accuracy under attack vs ε",
        f"Share of the {results.n_images} test images each model classifies correctly {what} "
        f"(each model attacked with its own gradient). Tick labels give ε in [0, 1] pixel units and, "
        f"below, in /255. {sweet} {bound}{attack_section.accuracy_caption(results)}".rstrip(),
        plot=True,
    )


def _upper_bound(config: RunConfig) -> str:
    """Any attack's accuracy bounds robust accuracy from above; a one-step attack names the stronger one."""
    name = attack_name(config)
    stronger = " such as PGD" if name == "FGSM" else ""
    return f"{name} accuracy is an upper bound on robust accuracy: a stronger attack{stronger} can only lower it. "


def _per_class(results: Results, root: Path) -> ReportFigure:
    plots.per_class_plot(results, root, "accuracy_per_class")
    return _figure(
        root,
        "accuracy_per_class",
        "Accuracy under attack vs ε, per class",
        f"One panel per class, same axes, colours and markers as the overall curve: the share of that "
        f"class's test images each model still classifies correctly under {attack_name(results.config)}. "
        "A class where the two curves stay close gains little from adversarial training.",
        plot=True,
    )


def _sensitivity(results: Results, root: Path, i: int) -> ReportFigure:
    key = sensitivity_key(results.config, i)
    plots.sensitivity_plot(results, root, key, i)
    return _figure(
        root,
        key,
        f"Layer sensitivity at ε = {eps_text(results.config, i)}",
        "Mean relative σ of each hooked layer's channels (σ divided by the channel's mean clean "
        "activation |F|, so both models are measured in units of their own activation size), "
        f"layers in network order, each model under its own {attack_name(results.config)} attack (standard "
        f"hatched); error "
        f"bars give the {100 * results.bootstrap.level:.0f}% bootstrap interval. A taller bar "
        "means the layer's activations move more, relative to their size. Every ε uses the same y "
        "scale; raw σ per layer is in the noise-baseline table and the layer CSV.",
        plot=True,
    )


# ---------------------------------------------------------------- image grids


def _examples_of(examples: list[Example], name: str) -> list[Example]:
    return [ex for ex in examples if ex.class_ == name]


def _examples(results: Results, root: Path, name: str, s: str) -> ReportFigure:
    blocks = [
        _example_block(results.config, root, ex, n + 1) for n, ex in enumerate(_examples_of(results.examples, name))
    ]
    path = output(root, "figures", f"examples_{s}.png")
    save_image(arrange(blocks), path)
    prefetch(path, PLOT_COLOURS)  # embedded with a palette (html): a worker makes that copy now
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


def _example_block(config: RunConfig, root: Path, ex: Example, n: int) -> Image.Image:
    """Header: the clean image and its true label; then one row per eps."""
    config = config
    header = hstack(
        [
            load_tile(root, ex.image, TILE // 2),
            text_image(
                [Line(f"Example {n}", bold=True), Line(f"true label: {ex.true_label}"), Line("clean image", MUTED)]
            ),
        ],
        gap=PAD,
    )
    heads = [[Line(m, COLOURS[m], True), Line(what)] for m in MODELS for what in ("adversarial", "perturbation")]
    row_heads = [
        [Line(f"ε = {config.eps_labels[i]}", bold=True), Line(config.eps_255[i], MUTED)] for i in range(len(ex.by_eps))
    ]
    rows = [[cell for m in MODELS for cell in _attacked_cells(root, entry, m)] for entry in ex.by_eps]
    return vstack([header, grid(rows, col_heads=heads, row_heads=row_heads)], gap=PAD)


def _attacked_cells(root: Path, entry: ExampleAtEps, model: str) -> tuple[Cell, Cell]:
    shot = entry.of(model)
    verdict = Cell(load_tile(root, shot.image), [verdict_line(shot)])
    delta = Cell(note="no perturbation") if entry.eps == 0 else Cell(load_tile(root, shot.perturbation))
    return verdict, delta


def verdict_line(shot: Shot) -> Line:
    """✓ outlined in RIGHT, or ✗ white on a filled WRONG badge: told apart by shape, not colour only."""
    text = f"{shot.pred} {pct(shot.confidence)}"
    if shot.correct:
        return Line(f"✓ {text}", RIGHT, True, badge="outline")
    return Line(f"✗ {text}", WRONG, True, badge="filled")
