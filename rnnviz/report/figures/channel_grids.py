"""The channel galleries: each model's most sensitive channels as rendered tiles, per eps and
recipe, and the diversity grids (called by ``catalogue.make_figures``; tiles reused by the slides).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from rnnviz.common.errors import UsageError
from rnnviz.common.names import MODELS
from rnnviz.report.figures import plots
from rnnviz.report.figures.grids import PAD, TILE, Cell, Line, fit, grid, hstack, save_image, text_image, vstack
from rnnviz.report.figures.look import COLOURS, MUTED, WRONG
from rnnviz.report.figures.trust import UNSURE
from rnnviz.report.text.format import eps_text, pct, ranked, slugs
from rnnviz.report.text.gallery import targets_sentence
from rnnviz.report.validate.safety import output, regular_file
from rnnviz.results.model import Results
from rnnviz.results.model.channels import ChannelRow
from rnnviz.results.model.matching import MatchedChannel, Matching
from rnnviz.results.model.pictures import Render
from rnnviz.results.model.run import RunConfig

PER_ROW = 5
RECIPE_NOTES = {
    "lucid": "Lucid recipe: decorrelated Fourier parameterization with transformation "
    "robustness, a prior that makes even a standard model's channels look structured.",
    "raw": "Raw recipe: plain gradient ascent in pixel space with no prior and no transforms "
    "(Engstrom et al. 2019), so what appears is what the model itself prefers.",
    "accent": "Accent recipe: optimization from the channel's best real image with a pull back towards it, "
    "so it shows what the channel amplifies in a real input.",
}


def figures(results: Results, root: Path, figure, attacked: list[int], recipes: list[str], shown: str | None) -> list:
    """One gallery per attacked eps and recipe, then one diversity grid per recipe that has any;
    ``figure(root, key, title, caption)`` makes the catalogue's ReportFigure. The main body's gallery
    (key ``shown``) explains its tiles in full; the appendix's refer back to it."""
    renders = {(r.model, r.layer, r.channel, r.recipe): r for r in results.renders}
    out = [_gallery(results, root, figure, renders, i, recipe, shown) for i in attacked for recipe in recipes]
    return out + [
        _diversity(results.renders, root, figure, recipe)
        for recipe in recipes
        if any(r.diversity for r in results.renders if r.recipe == recipe)
    ]


def gallery_key(config: RunConfig, i: int, recipe: str) -> str:
    return f"gallery_{slugs(config)[i]}_{recipe}"


def _gallery(results: Results, root: Path, figure, renders: dict, i: int, recipe: str, shown: str | None):
    panels = []
    for m in MODELS:
        p_top = {(r.layer, r.channel): r.p_top for r in ranked(results, m, i).top}
        cells = [
            channel_cell(root, renders.get((m, c.layer, c.channel, recipe)), c, p_top.get((c.layer, c.channel)))
            for c in results.top_channels.of(m)[i]
        ]
        rows: list[list[Cell | None]] = [list(cells[j : j + PER_ROW]) for j in range(0, len(cells), PER_ROW)] or [
            [None]
        ]
        panels.append(
            vstack([text_image([Line(plots.model_label(results.models, m), COLOURS[m], True)]), grid(rows)], gap=PAD)
        )
    key = gallery_key(results.config, i, recipe)
    save_image(hstack(panels, gap=64), output(root, "figures", f"{key}.png"))
    tiles = (
        f"Left: the standard model's top {results.config.top_k} channels at this ε, in the ranking of "
        "section 2; right: the robust model's. Each tile is an image optimized to excite one "
        "channel, captioned layer · channel · σ and the share of bootstrap resamples that put "
        "the channel in the top-k († below one half). "
    )
    marks = (
        '"dead channel": the channel\'s activation stayed at zero, so there is nothing to show. "weak": the '
        "render excites its channel less than the best real image does (activation relative to it below 1×), "
        "with why its optimization stopped. "
    )
    if shown is not None and key != shown:  # the appendix's galleries: the main body's explains the tiles
        tiles, marks = "Tiles, captions and marks as in the main body's gallery. ", ""
    return figure(
        root,
        key,
        f"Most sensitive channels at ε = {eps_text(results.config, i)}, {recipe} renders",
        f"{tiles}{RECIPE_NOTES.get(recipe, '')} {marks}{targets_sentence(results, i, recipe)}",
    )


MATCHED = "matched_pairs"  # the figure key of the matched-pairs gallery


def matched_pairs(match: Matching | None, i: int | None) -> list[tuple[MatchedChannel, ChannelRow | None]]:
    """Row k of the matched-pairs gallery: (the standard model's k-th channel at ε index ``i``, its robust
    partner as a channel row, None where the layer had no channel left to pair), from results.json's matching."""
    match = match
    tops = (match.top["standard"][i] or []) if match and i is not None else []
    out = []
    for x in tops:
        sigma = x.partner_sensitivity
        partner = None
        if x.partner is not None:
            partner = ChannelRow(layer=x.layer, channel=x.partner, sensitivity=sigma if sigma is not None else 0.0)
        out.append((x, partner))
    return out


def _own_row(x: MatchedChannel) -> ChannelRow:
    """A matched channel as a gallery tile's row (its σ: 0 where the matching did not record it)."""
    return ChannelRow(layer=x.layer, channel=x.channel, sensitivity=0.0 if x.sensitivity is None else x.sensitivity)


def matched_gallery(results: Results, root: Path, figure, i: int | None, recipe: str | None):
    """Tile k on the left is the standard model's k-th channel at ε index ``i``; tile k on the right is
    the robust channel matched to it (results.json's matching), captioned with the match's r and the
    partner's place in the robust ranking. None where there is no matching, render or ranked ε."""
    pairs = matched_pairs(results.matching, i)
    if not pairs or recipe is None or i is None or results.matching is None:
        return None
    renders = {(r.model, r.layer, r.channel): r for r in results.renders if r.recipe == recipe}
    p_top = {(r.layer, r.channel): r.p_top for r in ranked(results, "standard", i).top}
    rows: list[list[Cell | None]] = []
    for x, partner in pairs:
        key = (x.layer, x.channel)
        rows.append(
            [
                channel_cell(root, renders.get(("standard", *key)), _own_row(x), p_top.get(key)),
                _partner_cell(root, renders, x, partner),
            ]
        )
    heads = [[Line(plots.model_label(results.models, m), COLOURS[m], True)] for m in MODELS]
    save_image(grid(rows, col_heads=heads), output(root, "figures", f"{MATCHED}.png"))
    quantile = 100 * results.matching.quantile
    return figure(
        root,
        MATCHED,
        f"Matched pairs at ε = {eps_text(results.config, i)}, {recipe} renders",
        "Row k: left, the standard model's k-th channel at this ε (as in the galleries); right, the robust "
        "channel paired with it by the matching of clean activations (same layer, one-to-one), with the pair's "
        f"r (real: above the shuffled-image {quantile:.0f}th percentile) and that channel's σ and rank in the "
        f"robust model at the same ε. {RECIPE_NOTES.get(recipe, '')}",
    )


def _partner_cell(root: Path, renders: dict, x: MatchedChannel, partner: ChannelRow | None) -> Cell:
    """The robust ``partner`` of standard top-k entry ``x`` (an entry of results.json's matching.top)."""
    if partner is None:
        return Cell(note="no partner", lines=[Line(f"{x.layer} · no channel left to pair")])
    cell = channel_cell(root, renders.get(("robust", x.layer, x.partner)), partner)
    rank = f"rank {x.partner_rank}" if x.partner_rank is not None else "unranked"
    real = "real" if x.real else "below threshold"
    line = Line(f"r = {x.r:.2f} ({real}) · {rank}", MUTED if x.real else WRONG)
    return Cell(cell.image, [*cell.lines[:1], line, *cell.lines[1:]], note=cell.note)


def channel_cell(
    root: Path,
    render: Render | None,
    channel: ChannelRow,
    p_top: float | None = None,
    size: int = TILE,
    compact: bool = False,
) -> Cell:
    """A render with its caption: layer, channel and σ; how often it is in the top-k; and, for a render
    weaker than its channel's best real image, how weak and why it stopped. ``compact``: the slides'
    shorter lines, so a tile's caption fits under it at slide-sized text."""
    caption = [Line(f"{channel.layer} · ch {channel.channel} · σ={channel.sensitivity:.2g}")]
    if p_top is not None:
        unsure = p_top < UNSURE
        caption.append(
            Line(f"{'' if compact else 'in '}top-k {pct(p_top)}{' †' if unsure else ''}", WRONG if unsure else MUTED)
        )
    if render is None:
        return Cell(note="not rendered", lines=caption)
    if render.dead:
        return Cell(note="dead channel", lines=caption)
    rel = render.relative_activation
    if rel is not None and rel < 1:  # text, not colour only: the render is below the best real image
        if compact:
            caption.append(Line(f"weak {rel:.2f}×" + (f", {render.stop}" if render.stop is not None else ""), WRONG))
        else:
            caption.append(Line(f"weak: {rel:.2f}× best real image", WRONG))
            if render.stop is not None:
                caption.append(Line(f"stopped: {render.stop}, {render.steps} steps", WRONG))
    return Cell(load_tile(root, render.image, size), caption)


def _diversity(renders: list[Render], root: Path, figure, recipe: str):
    chosen = [r for r in renders if r.recipe == recipe and r.diversity]
    width = 1 + max(len(r.diversity) for r in chosen)
    heads = [[Line("render")]] + [[Line(f"diverse {d + 1}")] for d in range(width - 1)]
    row_heads = [[Line(r.model, COLOURS[r.model], True), Line(f"{r.layer} · ch {r.channel}")] for r in chosen]
    rows = [[Cell(load_tile(root, p)) for p in [r.image, *r.diversity]] for r in chosen]
    save_image(grid(rows, col_heads=heads, row_heads=row_heads), output(root, "figures", f"diversity_{recipe}.png"))
    return figure(
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
