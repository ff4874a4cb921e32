"""Plots of the section "Does the attack change the answer?" (issue 13): the top-k overlap between
every pair of conditions (attack, ε) and where the predictions go under each attack. Same
conventions as ``plots`` (object API, PNG at 200 dpi + SVG, ``plain`` for every string from
results.json)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from rnnviz.common.names import MODELS
from rnnviz.report.figures.look import COLOURS, INK, MUTED, PAGE, Look
from rnnviz.report.figures.plots import plain, save_plot
from rnnviz.report.text.format import attack_label
from rnnviz.results.model import Results
from rnnviz.results.model.attacks import Attacks, Overlap, OverlapCondition

# Okabe-Ito without the two model colours: the predicted classes of the collapse figure.
CLASS_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#CC79A7", "#000000")
REST = "#BBBBBB"


def condition_label(labels: list[str], cond: OverlapCondition) -> str:
    return f"{attack_label(cond.attack)} {labels[cond.eps_index]}"


def overlap_plot(results: Results, root: Path, stem: str, look: Look = PAGE, eps_index: int | None = None) -> Figure:
    """Per model a square heatmap: top-k Jaccard below the diagonal, Spearman ρ above, and each
    condition's bootstrap expected Jaccard (the "same within noise" reference) on the diagonal.
    With ``eps_index`` only the attacks at that ε: few enough cells for their numbers on a slide."""
    overlaps = {m: _at_eps(results.attacks.overlap.of(m), eps_index) for m in MODELS}
    size = max(len(overlaps[m].conditions) for m in MODELS)
    cell = 0.36 if size <= 12 else 0.24
    with matplotlib.rc_context(look.rc(**{"axes.grid": False})):
        fig = Figure(figsize=look.figsize(2 * size * cell + 2.8, size * cell + 1.9), layout="constrained")
        # numbers in the cells only where a cell holds four characters at the smallest size
        annotate = size <= 12 and (look.size is None or look.size[1] * 72 * 0.6 / size > 2.6 * look.tiny)
        axes = fig.subplots(1, len(MODELS), squeeze=False)[0]
        jac_norm, rho_norm = Normalize(0, 1), Normalize(-1, 1)
        jac_cmap, rho_cmap = matplotlib.colormaps["Blues"], matplotlib.colormaps["PuOr"]
        for ax, m in zip(axes, MODELS):
            o = overlaps[m]
            k = len(o.conditions)
            jac, rho = (
                np.array(o.jaccard, dtype=float).reshape(k, k),
                np.array(o.spearman, dtype=float).reshape(k, k),
            )
            lower = np.tril(np.ones((k, k), dtype=bool), -1)
            ax.imshow(np.ma.masked_where(~lower, jac), cmap=jac_cmap, norm=jac_norm, aspect="equal")
            ax.imshow(np.ma.masked_where(~lower.T, rho), cmap=rho_cmap, norm=rho_norm, aspect="equal")
            if annotate:
                _annotate(ax, jac, rho, o.expected_jaccard, jac_norm, rho_norm, look.tiny)
            _blocks(ax, o.conditions)
            labels = [plain(condition_label(results.config.eps_labels, c)) for c in o.conditions]
            ax.set_xticks(range(k), labels, rotation=90)
            ax.set_yticks(range(k), labels)
            ax.tick_params(length=0)
            ax.set_title(plain(m), color=COLOURS[m], fontsize=look.font)
            for spine in ax.spines.values():
                spine.set_visible(False)
        fig.colorbar(
            matplotlib.cm.ScalarMappable(jac_norm, jac_cmap), ax=axes, shrink=0.7, label="top-k Jaccard (lower left)"
        )
        fig.colorbar(
            matplotlib.cm.ScalarMappable(rho_norm, rho_cmap), ax=axes, shrink=0.7, label="Spearman ρ (upper right)"
        )
        save_plot(fig, root, stem, look)
    return fig


def _at_eps(overlap: Overlap, eps_index: int | None) -> Overlap:
    """The overlap's conditions at one ε index (all of them for None), matrices cut to match."""
    keep = [n for n, c in enumerate(overlap.conditions) if eps_index is None or c.eps_index == eps_index]
    return overlap.model_copy(
        update={
            "conditions": [overlap.conditions[n] for n in keep],
            "jaccard": [[overlap.jaccard[a][b] for b in keep] for a in keep],
            "spearman": [[overlap.spearman[a][b] for b in keep] for a in keep],
            "expected_jaccard": [overlap.expected_jaccard[n] for n in keep],
        }
    )


def _annotate(ax, jac, rho, expected: list, jac_norm, rho_norm, size: float) -> None:
    k = len(jac)
    for x in range(k):
        for y in range(k):
            if x == y:
                value = expected[x]
                text, colour = ("–" if value is None else f"{value:.2f}".lstrip("0")), MUTED
                ax.text(y, x, text, ha="center", va="center", fontsize=size, color=colour, style="italic")
                continue
            value, norm = (jac[x][y], jac_norm) if x > y else (rho[x][y], rho_norm)
            strong = abs(norm(value) - (0 if x > y else 0.5)) > (0.6 if x > y else 0.33)
            ax.text(
                y,
                x,
                f"{value:.2f}".replace("0.", ".", 1),
                ha="center",
                va="center",
                fontsize=size,
                color="white" if strong else INK,
            )


def _blocks(ax, conditions: list[OverlapCondition]) -> None:
    """Thin lines between attacks, so each attack's ε form one block."""
    for j in range(1, len(conditions)):
        if conditions[j].attack != conditions[j - 1].attack:
            ax.axhline(j - 0.5, color="white", lw=2)
            ax.axvline(j - 0.5, color="white", lw=2)


def collapse_plot(results: Results, root: Path, stem: str, look: Look = PAGE) -> Figure:
    """Per model and attack, the share of all predictions each class takes at each ε (stacked)."""
    att, config = results.attacks, results.config
    names = att.names
    classes = _shown_classes(att)
    colours = dict(zip(classes, CLASS_COLOURS))
    with matplotlib.rc_context(look.rc()):
        size = (max(9.0, 3.8 * len(names) + 1.5), 2.1 * len(MODELS) + 0.9)
        fig = Figure(figsize=look.figsize(*size), layout="constrained")
        axes = fig.subplots(len(MODELS), len(names), sharex=True, sharey=True, squeeze=False)
        for r, m in enumerate(MODELS):
            for col, a in enumerate(names):
                ax = axes[r][col]
                entries = att.collapse[a].of(m)
                for i, entry in enumerate(entries):
                    bottom = 0.0
                    for p in entry.predicted if entry else []:
                        share = float(p.share)
                        colour = colours.get(p.class_, REST)
                        ax.bar(i, share, bottom=bottom, width=0.7, color=colour, edgecolor="white", lw=0.5)
                        bottom += share
                    if entry and entry.dominant:
                        ax.text(i, min(bottom, 1.0) + 0.03, "collapse", ha="center", fontsize=look.tiny, color=INK)
                ax.set_title(plain(f"{m} · {attack_label(a)}"), color=COLOURS[m], fontsize=look.font)
                ax.set_xticks(range(len(entries)), [plain(e) for e in config.eps_labels])
                ax.set_ylim(0, 1.15)
                ax.grid(axis="x", visible=False)
            axes[r][0].yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        for ax in axes[-1]:
            ax.set_xlabel("ε")
        fig.supylabel("share of predictions", fontsize=look.font)  # once: rows are short on a slide
        handles = [Patch(color=colours[c], label=plain(c)) for c in classes]
        handles.append(Patch(color=REST, label="other classes"))
        fig.legend(handles=handles, loc="outside upper center", ncols=min(7 if look.size is None else 4, len(handles)))
        save_plot(fig, root, stem, look)
    return fig


def _shown_classes(att: Attacks) -> list[str]:
    """The classes with their own colour: those taking the largest shares anywhere, at most six."""
    best: dict[str, float] = {}
    for a in att.names:
        for m in MODELS:
            for entry in att.collapse[a].of(m):
                for p in entry.predicted if entry else []:
                    best[p.class_] = max(best.get(p.class_, 0.0), float(p.share))
    return sorted(best, key=lambda c: -best[c])[: len(CLASS_COLOURS)]
