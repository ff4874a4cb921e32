"""The report's matplotlib plots, each written as PNG (200 dpi) and SVG (slide material).

matplotlib's object API only (no pyplot, no global backend or rcParams change), so rendering
a report never touches a GUI or the caller's settings. Every string from results.json goes
through ``plain`` so a ``$`` is drawn as written, never parsed as mathtext. Each plot takes a
``look.Look`` (page or slide) and returns its Figure, so its text size can be measured.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from rnnviz.common.names import MODELS, layer_order
from rnnviz.report.figures.figure_workers import save
from rnnviz.report.figures.look import COLOURS, DASHES, INK, MUTED, PAGE, PLOT_COLOURS, Look
from rnnviz.report.text.claims import measured
from rnnviz.report.text.format import NORM_NAMES, attack_label, attack_name, eps_text
from rnnviz.report.validate.safety import output
from rnnviz.results.model import Results
from rnnviz.results.model.accuracy import StrongAccuracy, StrongAttack
from rnnviz.results.model.channels import LayerSummary
from rnnviz.results.model.run import ModelIdentity, RunConfig
from rnnviz.results.model.values import ByModel

DPI = 200


def plain(text: str) -> str:
    """Escape ``$`` so a name is drawn as written, never parsed as mathtext."""
    return str(text).replace("$", r"\$")


def model_label(models: ByModel[ModelIdentity], model: str) -> str:
    return f"{model} ({models.of(model).name})"


def accuracy_plot(results: Results, root: Path, stem: str, look: Look = PAGE) -> Figure:
    """Accuracy vs eps, both models (a sweet spot marked where ``sweet_spot_lead``). With several
    attacks (``results.attacks``) every attack is drawn, L∞ and L2 in separate panels (never
    mixed units): the marker names the model, the dash the attack. Where the run has a strong
    evaluation (``results.strong_attack``), each model's strongest accuracy is the bold solid line
    with its band on the L∞ panel, and the analysis attacks are drawn lighter beside it."""
    att = results.attacks
    strong = measured(results.strong_attack)
    norms = [n for n in ("linf", "l2") if n in att.norm.values()]
    with matplotlib.rc_context(look.rc()):
        fig = Figure(figsize=look.figsize(7 if len(norms) == 1 else 11, 4.6), layout="constrained")
        axes = fig.subplots(1, len(norms), sharey=True, squeeze=False)[0]
        trained = False
        for ax, norm in zip(axes, norms):
            for a in [a for a in att.names if att.norm[a] == norm]:
                for m in MODELS:
                    _attack_curve(ax, results, a, m, look, light=bool(strong) and norm == "linf")
            if strong and norm == "linf":
                for m in strong.models:
                    _strong_curve(ax, results.config.eps, strong.models[m], m, look)
            if att.norm[att.primary] == norm:
                _mark_sweet_spot(ax, results, look)
            _eps_axis(ax, results.config, both_forms=norm == "linf")
            trained = _train_eps(ax, results, norm) or trained
            if len(norms) > 1:
                name = NORM_NAMES["linf" if norm == "linf" else "l2"]
                ax.set_xlabel(f"ε ({name})")
                ax.set_title(f"{name} attacks", fontsize=look.font)
        axes[0].set_ylabel("accuracy under attack" if att else f"accuracy under {attack_name(results.config)}")
        if att:
            handles = _attack_legend(results, trained, look)
            fig.legend(handles=handles, loc="outside upper center", ncols=3 if look.size is None else 2)
        else:
            legend_on_top(fig, axes[0])
        save_plot(fig, root, stem, look)
    return fig


def _attack_curve(ax, results: Results, a: str, m: str, look: Look, light: bool = False) -> None:
    """One attack, one model: the accuracy with its Wilson band; FGSM along its fine grid if measured.
    ``light``: thinner and paler, beside the strongest accuracy."""
    att, eps = results.attacks, results.config.eps
    points = att.accuracy[a].of(m)
    curve = att.fgsm_curve if a == "fgsm" else None
    line = (curve.eps, curve.standard if m == "standard" else curve.robust) if curve else (eps, points)
    xs, ivs = line
    fade = 0.5 if light else 1.0
    band = 0.05 if light else 0.12
    ax.fill_between(xs, [r.low for r in ivs], [r.high for r in ivs], color=COLOURS[m], alpha=band, lw=0)
    width = (1.2 if light else 1.8) * look.line
    ax.plot(xs, [r.accuracy for r in ivs], ls=DASHES.get(a, ":"), lw=width, color=COLOURS[m], alpha=fade)
    ax.plot(eps, [r.accuracy for r in points], ls="none", alpha=fade, **look.model(m))


def strongest_label(strong: StrongAttack | None) -> str:
    """``strongest measured (APGD-CE/T + FGSM, PGD)``: what the bold line is the worst case over."""
    strong = measured(strong)
    if strong is None:
        raise ValueError("this run has no strong evaluation to label")
    parts = ["APGD-CE/T" if "apgd-t" in strong.settings.components else "APGD-CE"]
    analysis = ", ".join(attack_label(a) for a in strong.analysis or [])
    return f"strongest measured ({parts[0]}{' + ' + analysis if analysis else ''})"


def _strong_curve(ax, eps: list[float], entry: StrongAccuracy, m: str, look: Look) -> None:
    """One model's strongest accuracy: bold and solid, with its Wilson band."""
    lows, highs = zip(*entry.interval)
    ax.fill_between(eps, lows, highs, color=COLOURS[m], alpha=0.2, lw=0)
    ax.plot(eps, entry.accuracy, ls="-", lw=2.8 * look.line, color=COLOURS[m], **_marker(look, m))


def _marker(look: Look, m: str) -> dict:
    """The model's marker without its line settings (the strongest line sets its own)."""
    return {k: v for k, v in look.model(m).items() if k not in ("ls", "linestyle", "lw", "linewidth", "color", "c")}


def _train_eps(ax, results: Results, norm: str) -> bool:
    """A dotted vertical line at the robust model's training eps, where it lies on this axis."""
    train = results.context.train_eps
    eps = results.config.eps
    if not train or train.norm != norm or not train.robust or train.robust > 1.05 * max(eps):
        return False
    ax.axvline(train.robust, color=COLOURS["robust"], ls=":", lw=1.4)
    return True


def _attack_legend(results: Results, trained: bool, look: Look) -> list:
    """Models by colour and marker (no line), attacks by dash (in ink, no marker)."""
    att, train = results.attacks, results.context.train_eps
    handles: list = [
        Line2D([], [], ls="none", label=plain(model_label(results.models, m)), **look.model(m)) for m in MODELS
    ]
    for a in att.names:
        fine = " (fine ε grid)" if a == "fgsm" and att.fgsm_curve else ""
        handles.append(
            Line2D([], [], color=INK, ls=DASHES.get(a, ":"), lw=1.8 * look.line, label=plain(attack_label(a) + fine))
        )
    if measured(results.strong_attack):
        handles.append(
            Line2D([], [], color=INK, ls="-", lw=2.8 * look.line, label=plain(strongest_label(results.strong_attack)))
        )
    handles.append(Patch(color=MUTED, alpha=0.25, lw=0, label="95% Wilson interval"))
    if trained and train:
        label = f"robust model trained at ε = {train.robust:g}" + (" (L2)" if train.norm == "l2" else "")
        handles.append(Line2D([], [], color=COLOURS["robust"], ls=":", lw=1.4, label=label))
    return handles


def sweet_spot_lead(results: Results) -> tuple[int, float] | None:
    """(index, robust lead) of the eps where the robust model leads most, if it leads at an eps > 0."""
    eps, acc = results.config.eps, results.accuracy
    b = results.sweet_spot.best_index
    if b is None or eps[b] == 0:
        return None
    lead = acc.robust[b] - acc.standard[b]
    return (b, lead) if lead > 0 else None


def _mark_sweet_spot(ax, results: Results, look: Look) -> bool:
    """Shade the eps where the robust model leads most."""
    spot = sweet_spot_lead(results)
    if spot is None:
        return False
    b, lead = spot
    eps, acc = results.config.eps, results.accuracy
    gaps = [eps[j + 1] - eps[j] for j in (b - 1, b) if 0 <= j < len(eps) - 1]
    half = 0.3 * min(gaps or [eps[b]])
    ax.axvspan(eps[b] - half, eps[b] + half, color="#888888", alpha=0.15, lw=0)
    middle = (acc.robust[b] + acc.standard[b]) / 2  # between the curves, clear of both
    ax.annotate(
        f"sweet spot\nrobust +{100 * lead:.0f} pts",
        (eps[b], middle),
        ha="center",
        va="center",
        fontsize=look.small,
        color=MUTED,
        bbox={"facecolor": "white", "alpha": 0.8, "lw": 0, "pad": 1},
    )
    return True


def per_class_plot(results: Results, root: Path, stem: str, look: Look = PAGE) -> Figure:
    names = [c.name for c in results.classes]
    ncols = min(len(names), 4)
    nrows = math.ceil(len(names) / ncols)
    with matplotlib.rc_context(look.rc()):
        fig = Figure(figsize=look.figsize(3.4 * ncols, 2.9 * nrows + 0.5), layout="constrained")
        axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
        for ax, name in zip(axes, names):
            for m in MODELS:
                ax.plot(
                    results.config.eps,
                    results.accuracy_per_class.of(m)[name],
                    label=plain(model_label(results.models, m)),
                    **look.model(m),
                )
            ax.set_title(plain(name))
            _eps_axis(ax, results.config, both_forms=False)
        for ax in axes[len(names) :]:
            ax.set_visible(False)
        legend_on_top(fig, axes[0])
        save_plot(fig, root, stem, look)
    return fig


def _upper(stats: LayerSummary) -> float:
    """The top of a layer's bar: its interval's upper end, or the value without a bootstrap."""
    value = stats.relative or 0.0
    return max(value, (stats.relative_ci or (value, value))[1])


def sensitivity_plot(results: Results, root: Path, stem: str, i: int, look: Look = PAGE) -> Figure:
    """Relative σ (σ over the channel's mean clean |F|) per layer, both models, with its interval:
    in units of each channel's own activation size, so the two models are comparable."""
    layers = layer_order(
        results.config.layers,
        [layer for per_eps in results.layer_sensitivity.standard for layer in per_eps],
    )
    stats: dict[str, list[dict[str, LayerSummary]]] = {
        m: [r.layers if r else {} for r in results.ranking.of(m)] for m in MODELS
    }
    top = max((_upper(s) for m in MODELS for per in stats[m] for s in per.values()), default=0)
    with matplotlib.rc_context(look.rc()):
        fig = Figure(figsize=look.figsize(7, 4.6), layout="constrained")
        ax = fig.subplots()
        for k, m in enumerate(MODELS):
            per = [stats[m][i].get(layer) for layer in layers]
            values = [(s.relative if s else None) or 0.0 for s in per]
            cis = [(s.relative_ci if s else None) or (v, v) for s, v in zip(per, values)]
            errors = [
                [max(0.0, v - ci[0]) for v, ci in zip(values, cis)],
                [max(0.0, ci[1] - v) for v, ci in zip(values, cis)],
            ]
            ax.bar(
                [x + (k - 0.5) * 0.4 for x in range(len(layers))],
                values,
                width=0.4,
                label=plain(model_label(results.models, m)),
                yerr=errors,
                error_kw={"elinewidth": 1.2 * look.line, "capsize": 3 * look.line, "ecolor": "#333333"},
                **look.bars(m),
            )
        crowded = look.crowded(layers, fig.get_figwidth() - 1)  # labels would touch side by side
        ax.set_xticks(
            range(len(layers)),
            [plain(layer) for layer in layers],
            rotation=30 if crowded else 0,
            ha="right" if crowded else "center",
            rotation_mode="anchor",
        )
        ax.set_ylim(0, 1.1 * top or 1)
        ax.grid(axis="x", visible=False)
        ax.set_xlabel("layer (input → output)")
        ax.set_ylabel("mean relative σ\n(σ / mean clean |F|)")
        ax.set_title(plain(f"ε = {eps_text(results.config, i)}"))
        legend_on_top(fig, ax)
        save_plot(fig, root, stem, look)
    return fig


def _eps_axis(ax, config: RunConfig, both_forms: bool) -> None:
    config = config
    labels = [f"{a}\n{b}" for a, b in zip(config.eps_labels, config.eps_255)] if both_forms else config.eps_labels
    ax.set_xticks(config.eps, [plain(label) for label in labels])
    ax.set_xlabel("ε")
    ax.set_ylim(0, 1.04)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))


def legend_on_top(fig: Figure, ax) -> None:
    """Above the axes, where it can never hide data."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=2)


def save_plot(fig: Figure, root: Path, stem: str, look: Look = PAGE) -> None:
    """A PNG under the look's folder (``figures/`` or ``figures/slides/``), and an SVG from the same
    layout where the look is vector (slides), in a worker process where ``figure_workers.figures_in_parallel`` is
    active; that worker also makes the page PNG's copy the HTML embeds (``embed``). The page's SVGs
    went: nothing embedded them, and they took 4.2 of the figures' 15.6 s."""
    targets = [
        (output(root, *look.folder, f"{stem}.png"), {"format": "png", "dpi": DPI, "metadata": {"Software": None}})
    ]
    if look.vector:
        targets.append((output(root, *look.folder, f"{stem}.svg"), {"format": "svg", "metadata": {"Date": None}}))
    save(fig, targets, None if look.vector else PLOT_COLOURS)
