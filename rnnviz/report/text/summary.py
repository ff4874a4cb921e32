"""The report's summary sentences, written from the numbers in results.json.

A reader should get the finding without opening a figure, so every sentence
quotes the measured numbers; none is generic boilerplate.
"""

from __future__ import annotations

from collections import Counter

from rnnviz.common.names import MODELS, non_monotone
from rnnviz.report.text import patch_numbers as pn
from rnnviz.report.text.format import (
    attack_name,
    eps_text,
    focus_index,
    measure_name,
    pct,
    ranked,
)
from rnnviz.results.model import Results
from rnnviz.results.model.channels import BootstrapSettings, Comparison
from rnnviz.results.model.run import RunConfig


def summary_sentences(results: Results) -> list[str]:
    """Three to eight sentences, most important first; every number with its interval where it has one."""
    sentences = [
        clean_sentence(results),
        _focus_sentence(results),
        _top_layer_sentence(results),
        sensitivity_ratio_sentence(results),
        _noise_sentence(results),
        stability_sentence(results),
        patching_sentence(results),
        *caveats(results),
    ]
    return [s for s in sentences if s]


def clean_sentence(results: Results) -> str | None:
    eps = results.config.eps
    if 0 not in eps:
        return None
    i = eps.index(0)
    acc = results.accuracy
    return (
        f"On clean images the standard model classifies {pct(acc.standard[i])} of the "
        f"{results.n_images} test images correctly, the robust model {pct(acc.robust[i])}."
    )


def _focus_sentence(results: Results) -> str:
    i = focus_index(results)
    per_class = results.accuracy_per_class
    names = [c.name for c in results.classes]
    if len(names) > 3:
        acc = results.accuracy
        return (
            f"At ε = {eps_text(results.config, i)} the robust model still classifies "
            f"{pct(acc.robust[i])} of the images correctly, the standard model "
            f"{pct(acc.standard[i])}."
        )
    robust = _join([f"{pct(per_class.robust[n][i])} of {n}" for n in names])
    standard = _join([pct(per_class.standard[n][i]) for n in names])
    return (
        f"At ε = {eps_text(results.config, i)} the robust model still classifies {robust} images "
        f"correctly, the standard model {standard}."
    )


def _top_layer_sentence(results: Results) -> str | None:
    i = focus_index(results)
    parts = []
    for model in MODELS:
        top = results.top_channels.of(model)[i]
        if not top:
            return None
        layer, count = Counter(c.layer for c in top).most_common(1)[0]
        parts.append((model, layer, count, len(top)))
    (_, s_layer, s_count, k), (_, r_layer, r_count, _) = parts
    return (
        f"The standard model's most sensitive channels sit in {s_layer} ({s_count} of its "
        f"top {k} at ε = {results.config.eps_labels[i]}), the robust model's in "
        f"{r_layer} ({r_count} of {k})."
    )


def _level(bootstrap: BootstrapSettings) -> str:
    return f"{100 * bootstrap.level:.0f}% interval"


def _attacked_entries(config: RunConfig, entries: list[Comparison | None]) -> list[tuple[int, Comparison]]:
    return [(i, e) for i, e in enumerate(entries) if e is not None and config.eps[i] > 0]


def sensitivity_ratio_sentence(results: Results) -> str | None:
    """The cross-model ratio of relative σ at the focus eps, with its interval and its range over eps."""
    i, labels = focus_index(results), results.config.eps_labels
    focus = results.comparison[i]
    if focus is None:
        return None
    ci = focus.ratio_ci
    ci_text = f"{_level(results.bootstrap)} {ci[0]:.1f}–{ci[1]:.1f}" if ci else "no interval"
    sentence = (
        f"Measured in units of each channel's own activation size (relative σ), the standard "
        f"model's channels change {focus.ratio:.1f}× ({ci_text}) as much as the robust "
        f"model's at ε = {eps_text(results.config, i)}"
    )
    ratios = _attacked_entries(results.config, results.comparison)
    if len(ratios) > 1:
        (lo_i, lo), (hi_i, hi) = (min(ratios, key=lambda p: p[1].ratio), max(ratios, key=lambda p: p[1].ratio))
        if f"{lo.ratio:.1f}" == f"{hi.ratio:.1f}":
            return sentence + f", and {lo.ratio:.1f}× at every attacked ε."
        sentence += (
            f"; across the attacked ε the ratio ranges from {lo.ratio:.1f}× (ε = {labels[lo_i]}) "
            f"to {hi.ratio:.1f}× (ε = {labels[hi_i]})"
        )
    return sentence + "."


def _noise_sentence(results: Results) -> str | None:
    i = focus_index(results)
    means = {}
    for m in MODELS:
        entry = results.ranking.of(m)[i]
        if entry is None or not entry.layers:
            return None
        means[m] = _mean(s.noise_ratio for s in entry.layers.values())
    n = len(ranked(results, "standard", i).layers)
    return (
        f"Random noise of the same size ({results.bootstrap.noise}) already causes "
        f"{pct(means['standard'])} of σ in the standard model and {pct(means['robust'])} in the "
        f"robust model at ε = {results.config.eps_labels[i]} (σ_noise / σ averaged over the {n} "
        "hooked layers); only the rest is specific to the attack."
    )


def stability_sentence(results: Results) -> str | None:
    i, k = focus_index(results), results.config.top_k
    parts, jaccards = [], []
    for m in MODELS:
        entry = results.ranking.of(m)[i]
        if entry is None or entry.expected_jaccard is None:
            return None
        ci = entry.jaccard_ci
        ci_text = f" ({_level(results.bootstrap)} {ci[0]:.2f}–{ci[1]:.2f})" if ci else ""
        parts.append(f"{entry.expected_jaccard:.2f}{ci_text} for the {m} model")
        jaccards.append(entry.expected_jaccard)
    lowest = min(jaccards)
    how = "stable" if lowest >= 0.9 else "fairly but not fully stable"
    return (
        f"The top {k} ({measure_name(results.config)}) is {how} under resampling of the "
        f"images: the expected Jaccard index between a bootstrap resample's top {k} and the "
        f"reported one at ε = {results.config.eps_labels[i]} is {_join(parts)}."
    )


def patching_sentence(results: Results) -> str | None:
    """Top-k by σ against random channels at the focus eps (or the first eps with damage to undo),
    for the standard model where the attack damaged it; the verdict follows the numbers."""
    if not pn.enabled(results):
        return f"{pn.PATCHING_OFF}."
    order = [focus_index(results)] + pn.patched(results)
    hits = [(m, i, e) for m in MODELS for i in order if (e := pn.entry(results, m, i)) is not None and pn.causal(e)]
    if not hits:
        return None
    (m, i, e), parts, verdicts = hits[0], [], {}
    for k in pn.quoted_ks(results.config, e):
        top, rnd = pn.row(e, "sigma", k), pn.random_stats(e, k)
        if top is None or top.undone is None:
            continue
        ci = top.undone_ci
        value = pct(top.undone) + (f" ({_level(results.bootstrap)} {pct(ci[0])[:-1]}–{pct(ci[1])})" if ci else "")
        against = "" if rnd is None else f", against {pct(rnd[0])} for {k} random channel{'s' * (k > 1)}"
        if rnd is not None and pn.control_gap(pn.control(e, "random", k), k) is None:
            verdicts[k] = (ci[0] if ci else top.undone) > rnd[2]
        parts.append((k, value, against))
    if not parts:
        return None
    (k0, value, against), rest = parts[0], parts[1:]
    sentence = (
        f"At ε = {results.config.eps_labels[i]}, putting back the clean values of the {m} "
        f"model's top {k0} channel{'s' * (k0 > 1)} by σ undoes {value} of the attack's damage{against}"
    )
    sentence += "".join(f"; the top {k} undo {v}{a}" for k, v, a in rest)
    flips = f"on the {pn.flipped(e)} images the attack flipped, of {e.n_images} patched"
    return f"{sentence} ({flips}){_patching_verdict(verdicts)}."


def _patching_verdict(verdicts: dict[int, bool]) -> str:
    better = [str(k) for k, v in verdicts.items() if v]
    worse = [str(k) for k, v in verdicts.items() if not v]
    if not verdicts:
        return ""
    if not worse:
        return ": the σ ranking does pick channels that carry more of the damage than random ones"
    if not better:
        return (
            ": no more than random channels within the intervals, so the σ ranking does not identify "
            "the channels that cause the errors"
        )
    return (
        f": only the top {_join(better)} clearly beat random channels (interval above the random draws' "
        f"{pn.SPREAD} range); "
        f"the top {_join(worse)} do not"
    )


def caveats(results: Results) -> list[str]:
    """Where accuracy *rises* with eps (any neighbouring pair in eps order), one sentence per model:
    the attack is then only a loose upper bound. The report's summary and the CLI both show these."""
    config, attack = results.config, attack_name(results.config)
    labels, sentences = config.eps_labels, []
    for model in MODELS:
        acc = results.accuracy.of(model)
        pairs = non_monotone(acc, config.eps)
        if pairs:
            rises = _join([f"from ε = {labels[a]} to {labels[b]} ({pct(acc[a])} → {pct(acc[b])})" for a, b in pairs])
            sentences.append(
                f"{attack} accuracy of the {model} model rises {rises}: {attack} is not "
                f"monotone in ε, so read it as an upper bound on robust accuracy."
            )
    return sentences


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def _join(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
