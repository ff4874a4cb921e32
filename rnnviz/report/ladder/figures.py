"""The ladder's two figures: every model's accuracy under the strongest attack against eps, and the
ladder figure, each measure against training eps with its interval.

Models are coloured in ladder order on one sequential scale (least robust lightest is hard to see on
white, so the scale runs dark to light-but-visible), the same in both figures and the galleries.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from rnnviz.report.figures.look import INK, MUTED, PAGE
from rnnviz.report.figures.plots import plain, save_plot
from rnnviz.report.ladder.numbers import Estimate, RungNumbers

SCALE = "viridis"


def ladder_colours(n: int) -> list[str]:
    """One colour per model in ladder order (hex, for the HTML too)."""
    cmap = matplotlib.colormaps[SCALE]
    return [matplotlib.colors.to_hex(cmap(0.9 * i / max(n - 1, 1))) for i in range(n)]


def accuracy_figure(root: Path, labels: list[str], eps: list[float], rows: list[RungNumbers]) -> Path:
    """Figure 1 of a ladder: each model's accuracy under the strongest attack vs eps, Wilson bands."""
    colours = ladder_colours(len(rows))
    with matplotlib.rc_context(PAGE.rc()):
        fig = Figure(figsize=(6.4, 3.6), layout="constrained")
        ax = fig.add_subplot()
        for label, row, colour in zip(labels, rows, colours):
            values = [e.value for e in row.accuracy]
            ax.plot(eps, values, color=colour, marker="o", label=plain(label))
            ax.fill_between(eps, _lows(row.accuracy), _highs(row.accuracy), color=colour, alpha=0.15, linewidth=0)
        ax.set_xlabel("ε of the attack")
        ax.set_ylabel("accuracy under attack")
        ax.set_ylim(-0.02, 1.02)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xticks(eps)
        fig.legend(title="model (training ε)", loc="outside right upper", frameon=False)
        save_plot(fig, root, "ladder_accuracy")
    return Path(root) / "figures" / "ladder_accuracy.png"


def measures_figure(root: Path, train_eps: list[float], eps: list[float], rows: list[RungNumbers]) -> Path:
    """The ladder figure, saved as figures/ladder_measures.png."""
    with matplotlib.rc_context(PAGE.rc()):
        save_plot(draw_measures(train_eps, eps, rows), root, "ladder_measures")
    return Path(root) / "figures" / "ladder_measures.png"


def draw_measures(train_eps: list[float], eps: list[float], rows: list[RungNumbers]) -> Figure:
    """Six measures against training eps: one line per attack eps (intervals as error bars), CKA one
    line per layer, smoothness one line. Panels a-d hold their series in attack-eps order, so a test
    reads them back."""
    fig = Figure(figsize=(10.5, 6.2), layout="constrained")
    axes = fig.subplots(2, 3, sharex=True)
    shades = _eps_shades(len(eps))
    for i in range(1, len(eps)):
        tag = f"ε {eps[i]:g}"
        _series(axes[0, 0], train_eps, [r.accuracy[i] for r in rows], shades[i], tag)
        _series(axes[0, 1], train_eps, [r.sigma_ratio[i] for r in rows], shades[i], tag)
        _series(axes[0, 2], train_eps, [r.noise_share[i] for r in rows], shades[i], tag)
        _series(axes[1, 0], train_eps, [u.undone if (u := r.undone[i]) else None for r in rows], shades[i], tag)
    _cka_panel(axes[1, 1], train_eps, rows)
    _series(axes[1, 2], train_eps, [r.smoothness for r in rows], INK, "top channels")
    _label(axes[0, 0], "a. accuracy, strongest attack", "accuracy (95% CI)", pct=True)
    _label(axes[0, 1], "b. σ ratio: least robust / this", "mean relative σ ratio", ratio=True)
    _label(axes[0, 2], "c. noise share of the top σ", "σ_noise / σ (range, top-k)", pct=True)
    _label(axes[1, 0], "d. damage undone, top-k patched", "share undone (95% CI)", pct=True)
    _label(axes[1, 1], "e. CKA with the least robust", "linear CKA, same layer")
    _label(axes[1, 2], "f. render high-frequency share", "share (range, top-k; lower: smoother)", pct=True)
    for ax in axes.flat:
        ax.set_xticks(train_eps)
        ax.set_xticklabels([f"{e:g}" for e in train_eps])
    handles, tags = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, tags, loc="outside upper center", ncols=len(tags), title="ε of the attack")
    return fig


def _series(ax, x: list[float], values: list[Estimate | None], colour, tag: str) -> None:
    points = [(xi, v) for xi, v in zip(x, values) if v is not None]
    if not points:
        return
    xs, vs = [p[0] for p in points], [p[1] for p in points]
    ys = [v.value for v in vs]
    low = [max(0.0, y - (v.low if v.low is not None else y)) for y, v in zip(ys, vs)]
    high = [max(0.0, (v.high if v.high is not None else y) - y) for y, v in zip(ys, vs)]
    ax.errorbar(xs, ys, yerr=[low, high], color=colour, marker="o", capsize=3, label=tag)


def _cka_panel(ax, x: list[float], rows: list[RungNumbers]) -> None:
    layers = list(next((r.cka for r in rows if r.cka), {}) or {})
    shades = _eps_shades(len(layers) + 1)
    for j, layer in enumerate(layers):
        ys = [1.0 if r.cka is None else r.cka.get(layer) for r in rows]
        pts = [(xi, y) for xi, y in zip(x, ys) if y is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=shades[j + 1], marker="o", label=plain(layer))
    if layers:
        ax.legend(frameon=False, fontsize=PAGE.tiny, title="layer", title_fontsize=PAGE.tiny)
    ax.set_ylim(0, 1.05)


def _label(ax, title: str, ylabel: str, pct: bool = False, ratio: bool = False) -> None:
    ax.set_title(title, loc="left", color=INK)
    ax.set_xlabel("training ε of the model", color=MUTED)
    ax.set_ylabel(ylabel)
    if pct:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    if not ax.has_data():
        ax.text(0.5, 0.5, "not measured in this run", transform=ax.transAxes, ha="center", color=MUTED)
    if ratio and ax.has_data():
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}×"))
        ax.axhline(1.0, color=MUTED, linewidth=0.8, linestyle=":")
        ax.set_ylim(bottom=0)


def _eps_shades(n: int) -> list[str]:
    cmap = matplotlib.colormaps["magma"]
    return [matplotlib.colors.to_hex(cmap(0.15 + 0.65 * i / max(n - 1, 1))) for i in range(n)]


def _lows(values: list[Estimate]) -> list[float]:
    return [e.low if e.low is not None else e.value for e in values]


def _highs(values: list[Estimate]) -> list[float]:
    return [e.high if e.high is not None else e.value for e in values]
