"""Plots of the section "How much to trust the ranking": ranking stability, the noise baseline,
per-class rankings and convergence with the number of images. Same conventions as ``plots``
(object API, PNG at 200 dpi + SVG, ``plain`` for every string from results.json)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from rnnviz.common.names import MODELS, layer_order
from rnnviz.report.figures.look import COLOURS, MUTED, PAGE, Look
from rnnviz.report.figures.plots import legend_on_top, model_label, plain, save_plot
from rnnviz.report.text.format import ranked
from rnnviz.results.model import Results
from rnnviz.results.model.channels import ClassTop, LayerSummary
from rnnviz.results.model.run import RunConfig

SETTLED = 0.8  # Jaccard with the full-set top-k at half of the images that counts as settled
UNSURE = 0.5  # a top-k channel in the top-k in fewer than half of the resamples is marked †


def attacked(config: RunConfig) -> list[int]:
    return [i for i, e in enumerate(config.eps) if e > 0]


def stability_plot(results: Results, root: Path, stem: str, look: Look = PAGE) -> Figure:
    """Expected Jaccard of a resample's top-k with the reported top-k, per model and eps."""
    idx, labels = attacked(results.config), results.config.eps_labels
    with matplotlib.rc_context(look.rc()):
        fig = Figure(figsize=look.figsize(6.2, 3.3), layout="constrained")
        ax = fig.subplots()
        for k, m in enumerate(MODELS):
            xs, ys, lo, hi = [], [], [], []
            for x, i in enumerate(idx):
                r = ranked(results, m, i)
                if r.expected_jaccard is None:
                    continue
                ci = r.jaccard_ci or [r.expected_jaccard] * 2
                xs.append(x + (k - 0.5) * 0.16)
                ys.append(r.expected_jaccard)
                lo.append(max(0.0, ys[-1] - ci[0]))
                hi.append(max(0.0, ci[1] - ys[-1]))
            ax.errorbar(
                xs,
                ys,
                yerr=[lo, hi],
                ls="none",
                capsize=4 * look.line,
                lw=1.6 * look.line,
                label=plain(model_label(results.models, m)),
                **look.model(m),
            )
        ax.set_xticks(range(len(idx)), [plain(labels[i]) for i in idx])
        ax.set_xlim(-0.5, len(idx) - 0.5)
        ax.set_ylim(0, 1.05)
        ax.grid(axis="x", visible=False)
        ax.set_xlabel("ε")
        ax.set_ylabel("expected top-k Jaccard")
        legend_on_top(fig, ax)
        save_plot(fig, root, stem, look)
    return fig


def noise_plot(results: Results, root: Path, stem: str, look: Look = PAGE) -> Figure:
    """σ_noise / σ per layer, both models, one panel per attacked eps."""
    idx = attacked(results.config)
    layers = layer_order(
        results.config.layers, [la for m in MODELS for i in idx for la in ranked(results, m, i).layers]
    )
    ratios = {
        m: {i: [_noise_ratio(ranked(results, m, i).layers.get(la)) for la in layers] for i in idx} for m in MODELS
    }
    top = max([1.0] + [v for m in MODELS for i in idx for v in ratios[m][i]])
    ncols = min(len(idx), 3)
    nrows = math.ceil(len(idx) / ncols)
    with matplotlib.rc_context(look.rc()):
        fig = Figure(figsize=look.figsize(3.9 * ncols, 3.3 * nrows + 0.6), layout="constrained")
        crowded = look.crowded(layers, fig.get_figwidth() / ncols - 0.6)
        axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
        for ax, i in zip(axes, idx):
            for k, m in enumerate(MODELS):
                ax.bar(
                    [x + (k - 0.5) * 0.4 for x in range(len(layers))],
                    ratios[m][i],
                    width=0.4,
                    label=plain(model_label(results.models, m)),
                    **look.bars(m),
                )
            ax.axhline(1.0, color=MUTED, lw=1, ls="--")
            ax.set_xticks(
                range(len(layers)),
                [plain(la) for la in layers],
                rotation=35 if crowded else 0,
                ha="right" if crowded else "center",
                rotation_mode="anchor",
            )
            ax.set_ylim(0, 1.08 * top)
            ax.grid(axis="x", visible=False)
            ax.set_title(plain(f"ε = {results.config.eps_labels[i]}"))
        for ax in axes[len(idx) :]:
            ax.set_visible(False)
        for ax in axes[::ncols]:
            ax.set_ylabel("σ_noise / σ")
        legend_on_top(fig, axes[0])
        save_plot(fig, root, stem, look)
    return fig


def per_class_plot(results: Results, root: Path, stem: str, look: Look = PAGE) -> Figure:
    """Heatmap of the Jaccard between each class's top-k and the pooled top-k (model x class x eps)."""
    idx, labels = attacked(results.config), results.config.eps_labels
    names = [c.name for c in results.classes]
    with matplotlib.rc_context(look.rc(**{"axes.grid": False})):
        fig = Figure(figsize=look.figsize(2.4 + 0.8 * len(idx) * 2, 1.2 + 0.4 * len(names)), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        for ax, m in zip(axes, MODELS):
            grid = np.array(
                [[_or_nan(_to_pooled(ranked(results, m, i).per_class.get(n))) for i in idx] for n in names],
                dtype=float,
            )
            image = ax.imshow(grid, vmin=0, vmax=1, cmap="Blues", aspect="auto")
            for (r, k), v in np.ndenumerate(grid):
                ax.text(
                    k,
                    r,
                    "–" if math.isnan(v) else f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=look.small,
                    color="white" if v > 0.6 else "#222222",
                )
            ax.set_xticks(range(len(idx)), [plain(f"ε={labels[i]}") for i in idx])
            ax.set_yticks(range(len(names)), [plain(n) for n in names])
            ax.set_title(plain(model_label(results.models, m)), color=COLOURS[m], fontsize=look.font)
        fig.colorbar(image, ax=list(axes), shrink=0.9, label="Jaccard to pooled top-k")
        save_plot(fig, root, stem, look)
    return fig


def convergence_plot(results: Results, root: Path, stem: str, look: Look = PAGE) -> Figure:
    """Jaccard of the top-k on a fraction of the images with the full-set top-k, one panel per model:
    the mean over the subsets drawn per fraction, shaded from the lowest to the highest."""
    idx, labels = attacked(results.config), results.config.eps_labels
    shades = [0.35 + 0.65 * k / max(1, len(idx) - 1) for k in range(len(idx))]
    with matplotlib.rc_context(look.rc()):
        fig = Figure(figsize=look.figsize(8.4, 3.6), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        for ax, m in zip(axes, MODELS):
            for shade, i in zip(shades, idx):
                points = ranked(results, m, i).convergence
                x = [100 * p.fraction for p in points]
                ax.plot(
                    x,
                    [_or_nan(p.jaccard) for p in points],
                    alpha=shade,
                    label=plain(f"ε = {labels[i]}"),
                    **look.model(m),
                )
                # the spread over the subsets drawn
                low, high = ([_or_nan(p.jaccard_range[j]) for p in points] for j in (0, 1))
                ax.fill_between(x, low, high, color=COLOURS[m], alpha=0.12 * shade, lw=0)
            ax.axhline(SETTLED, color=MUTED, lw=1, ls="--")
            ax.set_xlim(0, 105)
            ax.set_ylim(0, 1.05)
            ax.set_xlabel("share of the images used (%)")
            ax.set_title(plain(model_label(results.models, m)), color=COLOURS[m], fontsize=look.font)
            ax.legend(loc="lower right")
        axes[0].set_ylabel("Jaccard with full-set top-k")
        save_plot(fig, root, stem, look)
    return fig


def _noise_ratio(stats: LayerSummary | None) -> float:
    """A layer's σ_noise / σ; a layer the model does not have: 0 (no bar)."""
    return 0.0 if stats is None else stats.noise_ratio


def _to_pooled(top: ClassTop | None) -> float | None:
    """A class's top-k Jaccard with the pooled top-k; None where the class has none."""
    return None if top is None else top.jaccard_to_pooled


def _or_nan(value) -> float:
    return float("nan") if value is None else value
