"""The section "Does the attack change the answer?" (several attacks in one run, issue 13): its
figures (drawn by ``attack_plots``) with their captions, its tables and sentences, already
formatted, and the first page's context (full-test-set accuracy, the robust model's training ε)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rnnviz.common.names import MODELS
from rnnviz.report.figures import attacks as attack_plots
from rnnviz.report.figures.look import DASHES
from rnnviz.report.figures.plots import strongest_label
from rnnviz.report.text.claims import measured
from rnnviz.report.text.format import NORM_NAMES, attack_label, focus_index, pct
from rnnviz.results.model import Results
from rnnviz.results.model.accuracy import Wilson
from rnnviz.results.model.attacks import Transfer
from rnnviz.results.model.run import TrainEps

OTHER = {"standard": "robust", "robust": "standard"}
TIMES = {2: "twice", 3: "three times", 4: "four times"}


def figures(results: Results, root: Path, make) -> list:
    """The section's figures in reading order; ``make`` is the catalogue's figure factory."""
    out = []
    if all(results.attacks.overlap.of(m).conditions for m in MODELS):
        attack_plots.overlap_plot(results, root, "attack_overlap")
        out.append(
            make(
                root,
                "attack_overlap",
                "Do different attacks pick the same sensitive channels?",
                f"Every pair of conditions (attack, ε; the noise baseline is a random sign of ±ε per pixel), "
                f"per model. Lower left: Jaccard index between the two top-{results.config.top_k} "
                "channel sets (1: the same channels). Upper right: Spearman rank correlation of the ranking "
                "score over all channels (1: the same order). Diagonal, in grey italics: the bootstrap's "
                "expected Jaccard of that condition's top-k with itself, the overlap resampling the images "
                "alone already gives; an overlap between two attacks below it means the attacks differ, "
                "not the sample.",
                plot=True,
            )
        )
    attack_plots.collapse_plot(results, root, "attack_collapse")
    out.append(
        make(
            root,
            "attack_collapse",
            "Where do the predictions go under each attack?",
            "Share of all predictions (every analysed image) that each class takes, per model, attack and ε "
            "(ε = 0: the clean images). A class taking far more than its share of the images marks a "
            "collapse: accuracy then stays high for that class only, which reads as robustness but is not.",
            plot=True,
        )
    )
    return out


_DASH_WORDS: dict[object, str] = {
    "-": "solid",
    "--": "dashed",
    "-.": "dash-dotted",
    ":": "dotted",
    DASHES["apgd"]: "densely dotted",
    DASHES["apgd-t"]: "dash-dot-dotted",
}


def accuracy_caption(results: Results) -> str:
    """What Figure 1's caption says of the run's attacks and the strongest measured."""
    att = results.attacks
    lines = ", ".join(f"{attack_label(a)} {_DASH_WORDS.get(DASHES.get(a, ':'), 'dotted')}" for a in att.names)
    run = "The run's attack" if len(att.names) == 1 else "Every attack of the run"
    parts = [f"{run}: {lines}; the shaded bands are 95% Wilson intervals."]
    strong = measured(results.strong_attack)
    if strong:
        parts.append(
            f"The bold solid lines are each model's {strongest_label(strong)}: an image counts as right at an ε "
            "only if every attack, at that ε and every smaller one, left it right. Each other line, one attack "
            "alone, is an upper bound on robust accuracy."
        )
    if att.fgsm_curve:
        parts.append("The FGSM line follows a fine ε grid (one gradient per image); its markers are the run's ε.")
    if "l2" in att.norm.values():
        parts.append("L2 attacks measure ε in another unit, so they have their own panel.")
    train = results.context.train_eps
    if train and train.robust:
        parts.append(f"The dotted line marks the robust model's training ε = {train.robust:g} ({train.source}).")
    return " ".join(parts)


def front(results: Results) -> dict:
    """First page: the models' full-test-set accuracy beside this run's, and the training ε."""
    ctx = results.context
    full, train = ctx.full_test_accuracy, ctx.train_eps
    eps = results.config.eps
    out: dict = {"full": None, "train": None, "beyond": []}
    if full and full.standard is not None and full.robust is not None:
        text = f"standard {full.standard:.1f}%, robust {full.robust:.1f}% — {full.source}"
        if 0 in eps:
            i = eps.index(0)
            clean = {m: pct(results.accuracy.of(m)[i]) for m in MODELS}
            text += f"; these classes, clean: {clean['standard']} vs {clean['robust']}"
        out["full"] = text
    if train and train.robust is not None:
        norm = NORM_NAMES["l2" if train.norm == "l2" else "linf"]
        out["train"] = f"robust model trained at ε = {train.robust:g} ({norm}), standard at ε = {train.standard or 0:g}"
        out["train"] += f" ({train.source})"
        out["beyond"] = _beyond(results, train)
    return out


def _beyond(results: Results, train: TrainEps) -> list[str]:
    """Each run ε above the robust model's training ε, in the training norm's attacks only."""
    t, att = train.robust, results.attacks
    same_norm = train.norm in att.norm.values()
    if not t or not same_norm:
        return []
    labels = results.config.eps_labels
    out = []
    for i, e in enumerate(results.config.eps):
        if e > t * 1.0001:
            ratio = e / t
            word = TIMES.get(round(ratio)) if abs(ratio - round(ratio)) < 0.01 else None
            out.append(f"ε = {labels[i]} is {word or f'{ratio:.1f}×'} the robust model's training ε {t:g}")
    return out


def context(results: Results) -> dict:
    att = results.attacks
    return {
        "names": [attack_label(a) for a in att.names],
        "primary": attack_label(att.primary),
        "accuracy_rows": _accuracy_rows(results),
        "accuracy_heads": [(attack_label(a), m) for a in att.names for m in MODELS],
        "overlap": [s for m in MODELS for s in _overlap_sentences(results, m)],
        "transfer": _transfer(results),
        "collapse_rows": _collapse_rows(results),
        "warnings": att.warnings,
    }


def _interval(r: Wilson) -> str:
    return f"{pct(r.accuracy)} ({pct(r.low)[:-1]}–{pct(r.high)})"


def _accuracy_rows(results: Results) -> list[dict]:
    att, labels = results.attacks, results.config.eps_labels
    return [
        {"eps": lab, "cells": [_interval(att.accuracy[a].of(m)[i]) for a in att.names for m in MODELS]}
        for i, lab in enumerate(labels)
    ]


def _focus(results: Results) -> int:
    i = focus_index(results)
    eps = results.config.eps
    return i if eps[i] > 0 else max(range(len(eps)), key=lambda j: eps[j])


def _overlap_sentences(results: Results, m: str) -> list[dict]:
    """The primary attack against every other attack (and noise) at the focus eps, for model ``m``."""
    att, i = results.attacks, _focus(results)
    o, label = att.overlap.of(m), results.config.eps_labels[i]
    where: dict[tuple[str, int], int] = {(c.attack, c.eps_index): x for x, c in enumerate(o.conditions)}
    p = att.primary
    if (p, i) not in where:
        return []
    x, out = where[(p, i)], []
    for a in [a for a in att.names if a != p] + ["noise"]:
        if (a, i) not in where:
            continue
        y = where[(a, i)]
        jac, rho = o.jaccard[x][y], o.spearman[x][y]
        refs = [r for r in (o.expected_jaccard[x], o.expected_jaccard[y]) if r is not None]
        ref = min(refs) if refs else None
        if a == "noise":
            share = (
                f"{attack_label(p)}'s top-k and the noise baseline's have a Jaccard index of {jac:.2f} "
                f"(Spearman {rho:.2f})"
            )
        else:
            tops = (set(att.top[p].of(m)[i]), set(att.top[a].of(m)[i]))
            share = (
                f"{attack_label(p)} and {attack_label(a)} share {len(tops[0] & tops[1])} of "
                f"{len(tops[0])} top channels (Jaccard {jac:.2f}, Spearman {rho:.2f} over all channels)"
            )
        ranking = results.ranking.of(m)[i]
        ci = ranking.jaccard_ci if ranking else None
        verdict = _overlap_verdict(jac, ref, ci, noise=a == "noise")
        out.append({"model": m, "text": f"at ε = {label}: {share}{verdict}."})
    return out


def _overlap_verdict(jac: float, ref: float | None, ci: Sequence[float] | None, noise: bool) -> str:
    """Two attacks' top-k differ only where their Jaccard falls below the resampling interval of the
    primary's own top-k (``ci``); between that interval's low end and its mean the run cannot tell."""
    if ref is None:
        return "; without a bootstrap there is no resampling reference"
    if jac >= ref:
        same = (
            "noise alone already moves these channels" if noise else "within noise both attacks find the same channels"
        )
        return f", as much as the {ref:.2f} expected from resampling alone: {same}"
    if ci and jac >= ci[0]:
        apart = "the attack's set from noise's" if noise else "the two attacks' sets apart"
        return (
            f", below the {ref:.2f} expected from resampling alone but inside its 95% interval "
            f"({ci[0]:.2f}–{ci[1]:.2f}): this run cannot tell {apart}"
        )
    differ = "the attack moves other channels than noise does" if noise else "the sensitive set depends on the attack"
    interval = f" (95% interval {ci[0]:.2f}–{ci[1]:.2f})" if ci else ""
    return f", below the {ref:.2f} expected from resampling alone{interval}: {differ}"


def _transfer(results: Results) -> dict | None:
    t = results.attacks.transfer
    if not t:
        return None
    labels, acc, sigma = results.config.eps_labels, t.accuracy, t.sigma_mean

    def num(v) -> str:
        return "–" if v is None else f"{v:.3g}"

    rows = [
        {
            "eps": labels[i],
            "acc": {m: (_interval(acc.of(m).of(m)[i]), _interval(acc.of(OTHER[m]).of(m)[i])) for m in MODELS},
            "sigma": {m: (num(sigma.of(m).of(m)[i]), num(sigma.of(OTHER[m]).of(m)[i])) for m in MODELS},
        }
        for i in range(len(labels))
    ]
    return {"attack": attack_label(t.attack), "rows": rows, "sentences": _transfer_sentences(results, t)}


def _transfer_sentences(results: Results, t: Transfer) -> list[str]:
    i, acc, sigma = _focus(results), t.accuracy, t.sigma_mean
    label, name = results.config.eps_labels[i], attack_label(t.attack)
    out = [
        f"At ε = {label} the {m} model classifies {_interval(acc.of(OTHER[m]).of(m)[i])} of the {OTHER[m]} model's "
        f"{name} images correctly, against {_interval(acc.of(m).of(m)[i])} of its own: "
        + (
            "its own gradient hurts it more than the other model's."
            if acc.of(OTHER[m]).of(m)[i].accuracy > acc.of(m).of(m)[i].high
            else "the other model's perturbation hurts it as much as its own."
        )
        for m in MODELS
    ]
    for s in MODELS:
        own, seen = sigma.of(s).of(s)[i], sigma.of(s).of(OTHER[s])[i]
        if own and seen:
            out.append(
                f"On the same images (crafted on the {s} model) the {s} model's mean σ is {own:.3g} and the "
                f"{OTHER[s]} model's {seen:.3g} ({max(own, seen) / min(own, seen):.1f}× apart): with identical "
                "perturbations the difference in σ comes from the models, not from what each was shown."
            )
    return out


def _cell(names: list[str], counts: list[int]) -> str:
    pairs = sorted(((k, n) for n, k in zip(names, counts) if k), key=lambda p: -p[0])
    text = " · ".join(f"{k} {n}" for k, n in pairs[:3])
    return text + (f" · +{sum(k for k, _ in pairs[3:])}" if len(pairs) > 3 else "") or "–"


def _collapse_rows(results: Results) -> list[dict]:
    att, config = results.attacks, results.config
    rows = []
    for m in MODELS:
        for a in att.names:
            for i, entry in enumerate(att.collapse[a].of(m)):
                if entry is None or config.eps[i] == 0:
                    continue
                conf = entry.confusion
                rows.append(
                    {
                        "model": m,
                        "attack": attack_label(a),
                        "eps": config.eps_labels[i],
                        "top": " · ".join(f"{p.class_} {pct(p.share)}" for p in entry.predicted[:3]) or "–",
                        "confusion": [
                            {"true": true, "text": _cell(conf.cols, counts)}
                            for true, counts in zip(conf.rows, conf.counts)
                        ],
                        "dominant": ", ".join(entry.dominant),
                        "rising": ", ".join(entry.rising),
                    }
                )
    return rows
