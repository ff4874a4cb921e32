"""The subsection "Does the other model have the same channel?" (issue 28): the CKA figure with its
caption, the matches of each model's top-k channels as table rows, the summary sentences, and with
``--replicate`` whether the finding replicates across training seeds (results.json's ``replication``).

Channels of two networks are unaligned, so every cross-model statement here goes through
results.json's ``matching`` (``rnnviz.measures.matching``): a one-to-one pairing by correlation of
spatially averaged clean activations, checked against a shuffled-image baseline.
"""

from __future__ import annotations

from pathlib import Path

from rnnviz.common.names import MODELS
from rnnviz.report.figures import matching as matching_plots
from rnnviz.report.text.format import focus_index
from rnnviz.results.model import Results
from rnnviz.results.model.matching import (
    CarriedTopK,
    CkaColumns,
    MatchedChannel,
    Matching,
    ReplicaComparison,
    ReplicaPair,
    Replication,
)

OTHER = {"standard": "robust", "robust": "standard"}


def enabled(results: Results) -> bool:
    return bool(results.matching)


def figures(results: Results, root: Path, make) -> list:
    """The CKA heat map and, where measured, the CKA beside its baselines; ``make`` is the catalogue's
    figure factory."""
    match = results.matching
    if match is None:
        return []
    matching_plots.cka_plot(match, root, "matching_cka")
    n = match.n_images
    read = (
        " Two networks of one architecture share much with no training at all: read each number against the "
        "baselines of the next figure, not on its own."
        if has_baselines(results)
        else ""
    )
    out = [
        make(
            root,
            "matching_cka",
            "How alike are the two models' layers? Linear CKA",
            "CKA (Kornblith et al. 2019) between every layer of the standard model (rows) and "
            f"every layer of the robust model (columns), on the spatially averaged clean activations of "
            f"the same {n} images: 1 means the two layers' channels carry the same information up to a "
            "rotation and a scale (a reordering of channels included); 0 means nothing linear in common. "
            f"Computed from C×C cross-covariance sums, never from an image-by-image matrix.{read}",
            plot=True,
        )
    ]
    b = match.baselines
    if b is not None:
        matching_plots.baselines_plot(b, root, "matching_baselines")
        seeds = any(r.cka.seed_standard is not None for r in b.layers)
        out.append(
            make(
                root,
                "matching_baselines",
                "The standard–robust CKA beside what any two networks give",
                "Per layer, the CKA of the standard and the robust model's same layer (black) beside each "
                f"model's CKA with a randomly initialised copy of its architecture (dotted; seed {b.random_seed}, "
                "the model's own input preprocessing)"
                + (
                    " and with itself retrained from a second seed (dash-dot)"
                    if seeds
                    else "; no second training seed was run (--replicate, preset fashion-seeds)"
                )
                + ". Right: the same with each image's class mean removed before the covariances, so what "
                "the layers share only because both tell the classes apart drops out. Above the dotted lines: "
                "more similar than untrained networks are; below the dash-dot lines: less similar than "
                "retraining alone leaves a model.",
                plot=True,
            )
        )
    return out


def has_baselines(results: Results) -> bool:
    return results.matching is not None and results.matching.baselines is not None


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def share(ratio: float | None) -> str:
    """The partner's σ relative to the channel's own, in words ("1/5 of the change")."""
    if ratio is None:
        return "no measured change"
    if 0.95 <= ratio <= 1.05:
        return "about the same change"
    if ratio > 1:
        return f"{ratio:.1f}× the change"
    parts = round(1 / ratio) if ratio > 0 else 0
    return f"1/{parts} of the change" if 2 <= parts <= 20 else f"{100 * ratio:.0f}% of the change"


def context(results: Results) -> dict:
    match = results.matching
    if match is None:
        return {"enabled": False}
    labels = results.config.eps_labels
    return {
        "enabled": True,
        "n_images": match.n_images,
        "quantile": f"{100 * match.quantile:.0f}th",
        "layer_rows": [_layer_row(match, la, i) for i, la in enumerate(match.layers)],
        "baseline_rows": baseline_rows(match),
        "replication": replication(results.replication, results.config.eps, labels),
        "eps_blocks": [
            {"label": labels[e], "rows": [_row(m, x) for m in MODELS for x in match.top[m][e] or []]}
            for e in range(len(labels))
            if any(match.top[m][e] for m in MODELS)
        ],
    }


def _layer_row(match: Matching, layer: str, i: int) -> dict:
    per = match.per_layer[layer]
    value = match.cka[i][i]
    return {
        "layer": layer,
        "cka": "–" if value is None else f"{value:.2f}",
        "threshold": "–" if per.threshold is None else f"{per.threshold:.2f}",
        "real": f"{per.n_real} / {len(per.r)}",
        "median": "–" if per.median_r is None else f"{per.median_r:.2f}",
    }


def _cka_text(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def baseline_rows(match: Matching) -> list[dict]:
    """Two table rows per layer (as measured, class means removed): the pair's CKA, then its baselines."""
    b = match.baselines
    if not b:
        return []
    return [
        {"layer": layer, "how": how, "cells": [_cka_text(v) for v in _columns(cols)]}
        for r in b.layers
        for layer, cols, how in ((r.layer, r.cka, "as measured"), ("", r.class_removed, "class means removed"))
    ]


def _columns(cols: CkaColumns) -> list[float | None]:
    """The pair's CKA, then each model's baselines: untrained copies, then a second seed."""
    return [cols.pair, cols.random_standard, cols.random_robust, cols.seed_standard, cols.seed_robust]


def _baselines(cols: CkaColumns, kind: str) -> list[float | None]:
    """Each model's (standard, robust) baseline of ``kind`` (``BASELINE_KINDS``)."""
    return [cols.random_standard, cols.random_robust] if kind == "random" else [cols.seed_standard, cols.seed_robust]


def _row(model: str, x: MatchedChannel) -> dict:
    return {
        "model": model,
        "other": OTHER[model],
        "layer": x.layer,
        "channel": x.channel,
        "rank": x.rank,
        "partner": "–" if x.partner is None else x.partner,
        "r": "–" if x.r is None else f"{x.r:.2f}",
        "real": x.real,
        "partner_rank": "–" if x.partner_rank is None else ordinal(x.partner_rank),
        "share": "–" if x.sensitivity_ratio is None else f"{x.sensitivity_ratio:.2f}",
    }


def summary(results: Results) -> list[str]:
    """Per model, at the summary's eps: how many of its top-k have a real counterpart in the other
    model, and how sensitive the first of them is there."""
    match = results.matching
    if match is None:
        return []
    e = focus_index(results)
    label, out = results.config.eps_labels[e], []
    for m in MODELS:
        tops = match.top[m][e]
        if not tops:
            continue
        real = [x for x in tops if x.real]
        verb = "has" if len(real) == 1 else "have"
        text = (
            f"At ε = {label}, {len(real)} of the {m} model's top {len(tops)} channels {verb} a real "
            f"counterpart in the {OTHER[m]} model (correlation of clean activations above the shuffled-image "
            f"{100 * match.quantile:.0f}th percentile)"
        )
        if real:
            x = real[0]
            rank = "–" if x.partner_rank is None else ordinal(x.partner_rank)
            text += (
                f"; {m} {x.layer} ch{x.channel} ↔ {OTHER[m]} ch{x.partner}, r = {x.r:.2f}: "
                f"ch{x.partner} ranks {rank} in the {OTHER[m]} model with "
                f"{share(x.sensitivity_ratio)}"
            )
        out.append(text + ".")
    return out + baseline_summary(results) + replication_summary(results.replication, e, label)


# ------------------------------------------------------------------ CKA against its baselines

BASELINE_KINDS = {
    "random": "a randomly initialised copy of its architecture",
    "seed": "itself retrained from a second seed",
}


def _verdict(pair: float, base: list[float]) -> str:
    """The pair's CKA read against the baselines of both models (two numbers, or one)."""
    if all(round(pair, 2) > round(v, 2) for v in base):
        return "more similar than the baseline"
    if all(round(pair, 2) < round(v, 2) for v in base):
        return "less similar than the baseline"
    if all(round(pair, 2) == round(v, 2) for v in base):
        return "as similar as the baseline"
    return "between the two models' baselines"


def baseline_summary(results: Results) -> list[str]:
    """Per kind of baseline, as measured and with the class means removed: at which layers the
    standard–robust CKA is more or less similar than the baseline, with the numbers."""
    baselines = results.matching.baselines if results.matching else None
    if baselines is None:
        return []
    rows, out = baselines.layers, []
    parts = [("cka", "")]
    if len(results.classes or []) > 1:  # with one class, removing its mean is the usual centring
        parts.append(("class_removed", " with class means removed"))
    for part, how in parts:
        for kind, words in BASELINE_KINDS.items():
            groups: dict[str, list[str]] = {}
            for r in rows:
                cols = r.cka if part == "cka" else r.class_removed
                pair = cols.pair
                base = _baselines(cols, kind)
                if pair is None or all(v is None for v in base):
                    continue
                numbers = " / ".join(_cka_text(v) for v in base)
                verdict = _verdict(pair, [v for v in base if v is not None])
                groups.setdefault(verdict, []).append(f"{r.layer} ({pair:.2f} vs {numbers})")
            if groups:
                out.append(
                    f"Standard–robust linear CKA{how}, against each model's CKA with {words} "
                    "(numbers: the pair vs the standard / the robust model's baseline): "
                    + "; ".join(f"{verdict} at {', '.join(layers)}" for verdict, layers in groups.items())
                    + "."
                )
    return out


# ------------------------------------------------------------------ across training seeds


def _pair_name(pair: ReplicaPair) -> str:
    return " / ".join(str(pair.models.of(m).name or "?") for m in MODELS)


def _ratio_text(c: ReplicaComparison | None) -> str:
    if not c or c.ratio is None:
        return "–"
    ci = c.ratio_ci
    return f"{c.ratio:.2f}×" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def _overlap(pair: ReplicaPair, model: str, e: int) -> CarriedTopK | None:
    """The pair's overlap entry for ``model`` at eps index ``e`` (None where there is none)."""
    per = (pair.overlap.of(model) if pair.overlap else None) or []
    return per[e] if e < len(per) else None


def _overlap_text(o: CarriedTopK | None) -> str:
    if not o:
        return "–"
    return f"{o.matched_jaccard:.2f} (raw {o.raw_jaccard:.2f}; {o.n_real}/{o.k} real)"


def replication(rep: Replication | None, eps: list[float], labels: list[str]) -> dict | None:
    """Table rows: per pair the ratio at every attacked eps (``eps``, ``labels``: config's); per further
    pair and model kind the matched top-k overlap with the run's pair. None without further pairs."""
    if not rep:
        return None
    attacked = [e for e, value in enumerate(eps) if value > 0]
    first = _pair_name(rep.pairs[0])
    return {
        "eps_labels": [labels[e] for e in attacked],
        "ratio_rows": [
            {"pair": _pair_name(p), "cells": [_ratio_text(p.comparison[e]) for e in attacked]} for p in rep.pairs
        ],
        "overlap_rows": [
            {
                "pair": f"{first} → {_pair_name(p)}",
                "model": m,
                "cells": [_overlap_text(_overlap(p, m, e)) for e in attacked],
            }
            for p in rep.pairs[1:]
            for m in MODELS
        ],
    }


def replication_summary(rep: Replication | None, e: int, label: str) -> list[str]:
    """At the summary's eps (index ``e``, labelled ``label``): the ratio of every pair and the matched
    top-k overlap of every further pair."""
    if not rep:
        return []
    ratios = "; ".join(f"{_ratio_text(p.comparison[e])} ({_pair_name(p)})" for p in rep.pairs)
    text = (
        f"Across {len(rep.pairs)} trainings of the pair (the same images), at ε = {label} the standard / robust "
        f"ratio of relative σ is {ratios}"
    )
    for p in rep.pairs[1:]:
        found = {m: _overlap(p, m, e) for m in MODELS}
        parts = [
            f"{o.matched_jaccard:.2f} for the {m} model (raw channel numbers: {o.raw_jaccard:.2f})"
            for m, o in found.items()
            if o
        ]
        if parts:
            text += f"; carried by matching into {_pair_name(p)}, the top-k overlaps its top-k by Jaccard " + (
                " and ".join(parts)
            )
    return [text + "."]
