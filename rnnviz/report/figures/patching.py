"""Plots of the section "Do the sensitive channels cause the errors?": damage undone against the
number of patched channels k (top-k by σ, by excess, random) and per layer (each layer's own
top eighth). Same conventions as ``plots`` (object API, PNG at 200 dpi + SVG, ``plain`` for every
string from results.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter, PercentFormatter

from rnnviz.common.names import MODELS
from rnnviz.report.figures.look import COLOURS, HATCHES, INK, MUTED, PAGE, Look
from rnnviz.report.figures.plots import plain, save_plot
from rnnviz.report.text import patch_numbers as pn
from rnnviz.results.model import Results
from rnnviz.results.model.patching import PatchEntry

NO_DAMAGE = "no damage to undo"
# The ranking by dash (the model has its own row, colour and marker); random channels: grey triangles.
STYLES = {"sigma": ("-", "top-k by σ"), "excess": ("--", "top-k by excess σ − σ_noise")}
LEAD_STYLE = ("-.", "top-k by the leading ranking")  # where the report leads with another measure (zscore)


def _limits(values: list[float]) -> tuple[float, float]:
    """Damage undone is a share, usually in [0, 1]; it can go slightly below 0 or above 1."""
    return min([0.0] + values) - 0.05, max([1.0] + values) + 0.05


def undone_plot(results: Results, root: Path, stem: str, look: Look = PAGE) -> Figure:
    """One panel per (model, patched eps): damage undone against k on a log axis."""
    idx, labels = pn.patched(results), results.config.eps_labels
    values = [
        v
        for m in MODELS
        for i in idx
        if (e := pn.entry(results, m, i)) is not None and pn.causal(e)  # a blank panel does not set the y range
        for r in e.sets
        if r.kind in (*pn.CURVES, "random", _lead(results, m, i))
        for v in [r.undone, *(r.undone_ci or [])]
        if v is not None
    ]
    low, high = _limits(values)
    ncols = len(idx)
    width = 3.2 if ncols <= 3 else 2.5
    with matplotlib.rc_context(look.rc()):
        fig = Figure(figsize=look.figsize(max(6.5, width * ncols + 0.8), 2.2 * len(MODELS) + 0.6), layout="constrained")
        axes = fig.subplots(len(MODELS), ncols, sharex=True, sharey=True, squeeze=False)
        for r, m in enumerate(MODELS):
            for c, i in enumerate(idx):
                ax = axes[r][c]
                _undone_panel(ax, pn.entry(results, m, i), m, look, _lead(results, m, i))
                ax.set_title(plain(f"{m} · ε = {labels[i]}"), color=COLOURS[m], fontsize=look.font)
                ax.set_ylim(low, high)
        ks = sorted({k for m in MODELS for i in idx if (e := pn.entry(results, m, i)) for k in pn.ladder(e)} or {1})
        ax = axes[0][0]
        ax.set_xscale("log")
        ax.set_xlim(ks[0] / 1.6, ks[-1] * 1.6)
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        for ax in axes[-1]:
            ax.set_xlabel("channels patched, k")
        fig.supylabel("damage undone", fontsize=look.font)  # once: rows are short on a slide
        styles = list(STYLES.values())
        if any(_lead(results, m, i) not in pn.CURVES for m in MODELS for i in idx if pn.entry(results, m, i)):
            styles.append(LEAD_STYLE)
        handles: list[Any] = [Line2D([], [], color=INK, ls=ls, lw=1.8 * look.line, label=lab) for ls, lab in styles]
        band = f"k random channels (mean, {pn.SPREAD} of draws)"
        handles.append(Patch(facecolor=MUTED, alpha=0.3, edgecolor=MUTED, label=band))
        fig.legend(handles=handles, loc="outside upper center", ncols=3 if look.size is None else 2)
        save_plot(fig, root, stem, look)
    return fig


def _blank(e: PatchEntry | None) -> str:
    """Why a panel has no curve: not patched, no damage, or too few flipped images to mean anything."""
    if not e:
        return "not patched"
    if not e.n_images:
        return "no image patched"
    return NO_DAMAGE if not pn.damaged(e) else f"{pn.flipped(e)} of {e.n_images} images flipped: too few"


def _lead(results: Results, m: str, i: int) -> str:
    """The measure the report ranks by at eps index ``i`` (what page 1's cause sentence quotes)."""
    entry = results.ranking.of(m)[i]
    return "sigma" if entry is None else entry.measure


def _undone_panel(ax, e: PatchEntry | None, m: str, look: Look, lead: str = "sigma") -> None:
    if e is None or not pn.causal(e):
        ax.text(
            0.5,
            0.5,
            _blank(e),
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=look.font,
            color=MUTED,
        )
        ax.grid(False)
        return
    stats = [s for k in pn.ladder(e, "random") if (s := pn.random_stats(e, k))]
    ks = [k for k in pn.ladder(e, "random") if pn.random_stats(e, k)]
    if ks:
        ax.fill_between(ks, [s[1] for s in stats], [s[2] for s in stats], color=MUTED, alpha=0.25, lw=0)
        ax.plot(ks, [s[0] for s in stats], color=MUTED, lw=1.6 * look.line, marker="^", ms=5 * look.line)
    kinds = [*pn.CURVES, *([lead] if lead not in pn.CURVES else [])]
    for shift, kind in zip((0.92, 1.0, 1.08) if len(kinds) > 2 else (0.94, 1.06), kinds):
        ls, _ = STYLES.get(kind, LEAD_STYLE)
        rows = [(r, r.undone) for r in (pn.row(e, kind, k) for k in pn.ladder(e, kind)) if r and r.undone is not None]
        if not rows:
            continue
        xs = [r.k * shift for r, _ in rows]
        ys = [y for _, y in rows]
        cis = [r.undone_ci or (y, y) for r, y in rows]
        ax.errorbar(
            xs,
            ys,
            yerr=[[max(0.0, y - ci[0]) for y, ci in zip(ys, cis)], [max(0.0, ci[1] - y) for y, ci in zip(ys, cis)]],
            ls=ls,
            lw=1.8 * look.line,
            capsize=3 * look.line,
            elinewidth=look.line,
            **look.model(m),
        )
    ax.axhline(0, color=INK, lw=0.6)
    ax.axhline(1, color=MUTED, lw=0.8, ls=":")


def layer_plot(results: Results, root: Path, stem: str, look: Look = PAGE) -> Figure:
    """Damage undone by each layer's own top eighth of its channels, per model, one bar per attacked
    eps where the attack flipped enough patched images."""
    idx, layers = pn.patched(results), pn.all_layers(results)
    low, high = _limits(_layer_values(results, idx))
    with matplotlib.rc_context(look.rc()):
        fig = Figure(figsize=look.figsize(max(8.4, 0.9 * len(layers) * 2 + 1.5), 3.7), layout="constrained")
        crowded = look.crowded(layers, fig.get_figwidth() / len(MODELS) - 0.8)
        axes = fig.subplots(1, len(MODELS), sharey=True, squeeze=False)[0]
        for ax, m in zip(axes, MODELS):
            spared = _layer_panel(ax, results, m, idx, layers, look)
            ax.set_xticks(
                range(len(layers)),
                [plain(la) for la in layers],
                rotation=30 if crowded else 0,
                ha="right" if crowded else "center",
                rotation_mode="anchor",
            )
            ax.set_ylim(low, high + (0.18 if spared else 0.1))
        axes[0].set_ylabel("damage undone\nby the layer's top eighth")
        axes[0].yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        save_plot(fig, root, stem, look)
    return fig


def _layer_values(results: Results, idx: list[int]) -> list[float]:
    """Every plotted value and interval end, so both panels share one y range."""
    return [
        v
        for m in MODELS
        for i in idx
        if (e := pn.entry(results, m, i)) is not None and pn.causal(e)
        for r in pn.layer_rows(results.config, e).values()
        for v in [r.undone, *(r.undone_ci or [])]
        if v is not None
    ]


def _layer_panel(ax, results: Results, m: str, idx: list[int], layers: list[str], look: Look) -> list[str]:
    """One model's bars (one per attacked eps, darker for larger eps); returns the eps it spared."""
    labels = results.config.eps_labels
    hit = {i: e for i in idx if (e := pn.entry(results, m, i)) is not None and pn.causal(e)}
    spared = [labels[i] for i in idx if pn.entry(results, m, i) and i not in hit]
    width = 0.8 / max(1, len(hit))
    for n, (i, e) in enumerate(hit.items()):
        per = [pn.layer_rows(results.config, e).get(la) for la in layers]
        ys = [r.undone if r and r.undone is not None else 0.0 for r in per]
        cis = [(r.undone_ci if r else None) or [y, y] for r, y in zip(per, ys)]
        ax.bar(
            [x + (n - (len(hit) - 1) / 2) * width for x in range(len(layers))],
            ys,
            width=width,
            color=COLOURS[m],
            hatch=HATCHES[m],
            edgecolor="white",
            linewidth=0,
            alpha=0.35 + 0.65 * (n + 1) / len(hit),
            label=plain(f"ε = {labels[i]}"),
            yerr=[[max(0.0, y - ci[0]) for y, ci in zip(ys, cis)], [max(0.0, ci[1] - y) for y, ci in zip(ys, cis)]],
            error_kw={"elinewidth": 1, "capsize": 2, "ecolor": "#333333"},
        )
    if spared:
        note = plain(f"fewer than {pn.MIN_FLIPPED} images flipped at ε = {', '.join(spared)}")
        ax.text(0.02, 0.97, note, transform=ax.transAxes, ha="left", va="top", fontsize=look.small, color=MUTED)
    if hit:
        ax.legend(loc="upper right", title="attacked at")
    ax.axhline(1, color=MUTED, lw=0.8, ls=":")
    ax.grid(axis="x", visible=False)
    ax.set_xlabel("layer (input → output)")
    ax.set_title(plain(m), color=COLOURS[m], fontsize=look.font)
    return spared
