"""The section "How much to trust the ranking": its figures (drawn by ``trust_plots``) with their
captions, and its tables, already formatted for the template. Also the top-k rows of the
sensitivity section, which carry σ with its interval, the noise ratio and the top-k probability."""

from __future__ import annotations

from pathlib import Path

from rnnviz.common.names import MODELS, layer_order
from rnnviz.report.figures import trust as trust_plots
from rnnviz.report.figures.trust import SETTLED, UNSURE, attacked
from rnnviz.report.text.format import format_interval, measure_name, pct, ranked
from rnnviz.results.model import Results
from rnnviz.results.model.channels import ConvergencePoint, LayerSummary


def figures(results: Results, root: Path, make) -> list:
    """The section's figures in reading order; ``make`` is the catalogue's figure factory."""
    if not attacked(results.config):
        return []
    boot, k = results.bootstrap, results.config.top_k
    level = f"{100 * boot.level:.0f}%"
    trust_plots.stability_plot(results, root, "ranking_stability")
    trust_plots.noise_plot(results, root, "noise_baseline")
    trust_plots.per_class_plot(results, root, "ranking_per_class")
    trust_plots.convergence_plot(results, root, "ranking_convergence")
    return [
        make(
            root,
            "ranking_stability",
            "Stability of the top-k ranking under resampling of the images",
            f"Each point is the expected Jaccard index between the top {k} of a bootstrap resample of "
            f"the images ({boot.resamples} resamples) and the reported top {k}, ranked by "
            f"{measure_name(results.config)}; bars give the {level} interval. 1 means every resample picks "
            "the same channels; 0.67 with k = 5 means a resample typically swaps one channel.",
            plot=True,
        ),
        make(
            root,
            "noise_baseline",
            "Noise baseline: how much of σ random noise of the same size causes",
            f"Per layer, σ_noise / σ: the change a random perturbation ({boot.noise}) causes, as a "
            "share of the change the attack causes, both models, one panel per attacked ε. Near 1 "
            "(dashed line) the attack moves the layer no more than noise does; the lower the bar, the "
            "more of σ is specific to the attack.",
            plot=True,
        ),
        make(
            root,
            "ranking_convergence",
            "Does the ranking settle with more images?",
            f"Jaccard index between the top {k} computed on a random 10, 25, 50 % of the images and "
            f"the top {k} on all {results.n_images} images, one line per attacked ε (darker: larger "
            f"ε). A curve that reaches the dashed line ({SETTLED}) by 50 % means more images would "
            "hardly change the ranking.",
            plot=True,
        ),
        make(
            root,
            "ranking_per_class",
            "Per-class rankings compared with the pooled ranking",
            f"Jaccard index between the top {k} computed on one class's images only and the top {k} "
            "over all images, per model, class and attacked ε. Low values mean the pooled top-k is a "
            "mix of class-specific channels rather than channels every class shares.",
            plot=True,
        ),
    ]


def topk_rows(results: Results, m: str, i: int) -> list[dict]:
    """One model's top-k at one eps: σ with its interval, noise ratio, top-k probability."""
    return [
        {
            "layer": r.layer,
            "channel": r.channel,
            "sigma": f"{r.sensitivity:.3g}",
            "ci": format_interval(r.sensitivity_ci),
            "noise": "–" if r.noise_ratio is None else f"{r.noise_ratio:.2f}",
            "p": "–" if r.p_top is None else pct(r.p_top),  # no bootstrap: no top-k probability
            "unsure": r.p_top is not None and r.p_top < UNSURE,
        }
        for r in ranked(results, m, i).top
    ]


def context(results: Results) -> dict:
    idx = attacked(results.config)
    labels = results.config.eps_labels
    return {
        "measure": measure_name(results.config),
        "level": f"{100 * results.bootstrap.level:.0f}%",
        "resamples": results.bootstrap.resamples,
        "eps": [labels[i] for i in idx],
        "stability_rows": [_stability_row(results, m, i) for m in MODELS for i in idx],
        "noise_rows": _noise_rows(results, idx),
        "convergence": [_convergence_sentence(results, m, idx) for m in MODELS],
    }


def _stability_row(results: Results, m: str, i: int) -> dict:
    r = ranked(results, m, i)
    j = r.expected_jaccard
    return {
        "model": m,
        "eps": results.config.eps_labels[i],
        "jaccard": "–" if j is None else f"{j:.2f}",
        "ci": format_interval(r.jaccard_ci, "{:.2f}"),
        "unsure": sum(t.p_top is not None and t.p_top < UNSURE for t in r.top),
        "candidates": ", ".join(f"{c.layer} · {c.channel} ({pct(c.p_top)})" for c in r.candidates) or "none",
    }


def _noise_rows(results: Results, idx: list[int]) -> list[dict]:
    layers = layer_order(
        results.config.layers, [la for m in MODELS for i in idx for la in ranked(results, m, i).layers]
    )
    cells = []
    for la in layers:
        row = []
        for i in idx:
            stats = {m: ranked(results, m, i).layers.get(la) for m in MODELS}
            row.append({m: _noise_cell(stats[m]) for m in MODELS})
        cells.append({"layer": la, "cells": row})
    return cells


def _noise_cell(stats: LayerSummary | None) -> tuple[str, str]:
    """A layer's σ and noise share at one eps; a layer the model does not have: dashes."""
    return (f"{stats.sigma:.3g}", pct(stats.noise_ratio)) if stats else ("–", "–")


def _jaccard_text(point: ConvergencePoint) -> str:
    """'0.67' for one subset; '0.67, range 0.43-1.00 over 5 subsets' where several were drawn."""
    low, high = point.jaccard_range
    if point.draws < 2 or low is None or high is None:
        return f"{point.jaccard:.2f}"
    return f"{point.jaccard:.2f}, range {low:.2f}–{high:.2f} over {point.draws} subsets"


def _convergence_sentence(results: Results, m: str, idx: list[int]) -> dict:
    """Settled where the Jaccard at half of the images (the largest fraction <= 0.5) is >= SETTLED."""
    labels, loose = results.config.eps_labels, []
    for i in idx:
        half = [p for p in ranked(results, m, i).convergence if p.fraction <= 0.5 and p.jaccard is not None]
        if half:
            point = max(half, key=lambda p: p.fraction)
            if (point.jaccard or 0.0) < SETTLED:  # not None: kept above
                loose.append(
                    f"ε = {labels[i]} (Jaccard {_jaccard_text(point)} at {100 * point.fraction:.0f}% of the images)"
                )
    if not loose:
        return {
            "model": m,
            "settled": True,
            "suggest": None,
            "text": f"settled: at every attacked ε, half of the images already give a top-k with "
            f"Jaccard ≥ {SETTLED} to the full-set top-k",
        }
    n, cap = results.config.n_images, results.source.per_class
    return {
        "model": m,
        "settled": False,
        "suggest": 2 * n if cap is None else (min(2 * n, cap) if cap > n else None),  # never beyond the source
        "text": f"not settled at {', '.join(loose)}",
    }
