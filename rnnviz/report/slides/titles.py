"""One-sentence slide titles: each slide says its finding, quoted from the numbers in results.json.

The report's summary sentences (``summary``) are too long for a slide title; these are the same
findings in at most about two lines at title size, each number with its 95% interval where the
run has one (a title is what a listener quotes). The brief's one-line pointers on page 2 of the
report (trust, cause, attacks) are these sentences too: one home for each short finding.
"""

from __future__ import annotations

from collections import Counter

from rnnviz.common.intervals import wilson
from rnnviz.common.names import MODELS
from rnnviz.report.text import claims
from rnnviz.report.text import gallery as gallery_text
from rnnviz.report.text.format import attack_label, attack_name, focus_index, pct
from rnnviz.results.model import Results
from rnnviz.results.model.channels import LayerSummary
from rnnviz.results.model.pictures import Example
from rnnviz.results.model.run import RunConfig


def label(config: RunConfig, i: int) -> str:
    return config.eps_labels[i]


def accuracy(results: Results) -> str:
    """Accuracy at the focus eps with its Wilson interval: under the strongest attack measured where
    the run has one (robust accuracy is the worst case found), else under the analysis attack."""
    i, strong = focus_index(results), claims.measured(results.strong_attack)
    if strong:
        entries = strong.models
        shown = {m: (entries[m].accuracy[i], *entries[m].interval[i]) for m in MODELS}
    else:
        acc, n = results.accuracy, results.n_images
        shown = {m: (acc.of(m)[i], *wilson(round(acc.of(m)[i] * n), n)) for m in MODELS}

    def with_ci(m: str) -> str:
        value, low, high = shown[m]
        return f"{pct(value)} (95% CI {pct(low)}–{pct(high)})"

    if strong:
        return (
            f"At ε = {label(results.config, i)} the robust model keeps {with_ci('robust')} under the strongest attack "
            f"measured, the standard model {with_ci('standard')}"
        )
    return (
        f"At ε = {label(results.config, i)} the robust model still gets {with_ci('robust')} right under "
        f"{attack_name(results.config)}, the standard model {with_ci('standard')}"
    )


def per_class(results: Results) -> str:
    i, per = focus_index(results), results.accuracy_per_class
    leads = {c.name: 100 * (per.robust[c.name][i] - per.standard[c.name][i]) for c in results.classes}
    low, high = min(leads, key=leads.__getitem__), max(leads, key=leads.__getitem__)
    where = f"at ε = {label(results.config, i)}"
    if len(leads) == 1:
        return f"{low}: the robust model leads by {leads[low]:+.0f} points {where}"
    if leads[low] > 0 and round(leads[low]) == round(leads[high]):
        return f"The robust model leads by {leads[low]:.0f} points in every class {where}"
    if leads[low] > 0:
        spread = f"from {leads[low]:.0f} ({low}) to {leads[high]:.0f} points ({high})"
        return f"The robust model leads in every class {where}: {spread}"
    ahead = sum(v > 0 for v in leads.values())
    return f"The robust model leads in {ahead} of {len(leads)} classes {where} ({leads[low]:+.0f} points for {low})"


def sensitivity(results: Results, i: int) -> str:
    """The summary's cross-model ratio of relative σ (``results.comparison``), with its interval."""
    entry = results.comparison[i]
    if not entry or not entry.ratio:
        return f"At ε = {label(results.config, i)} the run has no cross-model ratio of layer sensitivity to quote"
    ci = entry.ratio_ci
    ci_text = f" (95% CI {ci[0]:.1f}–{ci[1]:.1f})" if ci else ""
    return (
        f"At ε = {label(results.config, i)} the standard model's channels move {entry.ratio:.1f}×{ci_text} as much "
        "as the robust model's, relative to their own size"
    )


def top_channels(results: Results, i: int) -> str:
    parts = []
    for m in MODELS:
        top = results.top_channels.of(m)[i]
        if not top:
            return f"At ε = {label(results.config, i)} no channel was ranked"
        layer, count = Counter(c.layer for c in top).most_common(1)[0]
        parts.append(f"{layer} ({count} of {len(top)})")
    return (
        f"At ε = {label(results.config, i)} the standard model's most sensitive channels sit in {parts[0]}, "
        f"the robust model's in {parts[1]}"
    )


def example(config: RunConfig, ex: Example) -> str:
    """Where each model is first fooled on this image."""
    eps = config.eps
    first = {}
    for m in MODELS:
        wrong = [k for k, entry in enumerate(ex.by_eps) if not entry.of(m).correct]
        first[m] = f"fooled from ε = {label(config, wrong[0])}" if wrong else "never fooled"
    top = max(eps[: len(ex.by_eps)])
    return (
        f"One {ex.true_label}: the standard model is {first['standard']}, the robust model is "
        f"{first['robust']} (ε up to {top:g})"
    )


def gallery(results: Results, i: int, recipe: str) -> str:
    """The texture comparison of the recipe's renders (``text.gallery``), else how many reached their target."""
    c = gallery_text.comparisons(results.renders).get(recipe)
    if c is None:
        counts = " and ".join(f"{hit} of {n} {m}" for m, (hit, n) in _reached(results, i, recipe).items())
        return f"At ε = {label(results.config, i)}, {counts} {recipe} renders reach their channel's best real image"
    robust, standard = c["robust_mean"], c["standard_mean"]
    numbers = f"fine texture is {robust:.2f} of the spectral power (robust) against {standard:.2f} (standard)"
    if c["low"] > 0:
        return f"The robust model's {recipe} renders are smoother: {numbers}"
    if c["high"] < 0:
        return f"The robust model's {recipe} renders are more textured: {numbers}"
    return f"The two models' {recipe} renders are about as textured: {numbers}"


def _reached(results: Results, i: int, recipe: str) -> dict[str, tuple[int, int]]:
    """Per model: (renders that reached their target, renders) among its top channels at eps index ``i``."""
    out = {}
    for m in MODELS:
        shown = {(c.layer, c.channel) for c in results.top_channels.of(m)[i]}
        rs = [r for r in results.renders if r.model == m and r.recipe == recipe and (r.layer, r.channel) in shown]
        out[m] = sum(r.stop == "target" for r in rs), len(rs)
    return out


def attacks(results: Results) -> str | None:
    """How far the primary attack's top k agrees with the next attack's at the focus eps."""
    att = results.attacks
    primary = results.config.attack[0]
    others = [a for a in att.names if a not in (primary, "noise")]
    if not others:
        return None
    i, other = focus_index(results), others[0]
    found = {}
    for m in MODELS:
        o = att.overlap.of(m)
        where: dict[tuple[str, int], int] = {(c.attack, c.eps_index): n for n, c in enumerate(o.conditions)}
        if (primary, i) not in where or (other, i) not in where:
            return None
        a, b = where[(primary, i)], where[(other, i)]
        found[m] = o.jaccard[a][b], o.expected_jaccard[a]
    same = " and ".join(f"{v[0]:.2f} ({m})" for m, v in found.items())
    noise = " and ".join("–" if v[1] is None else f"{v[1]:.2f}" for v in found.values())
    return (
        f"At ε = {label(results.config, i)} {attack_label(primary)}'s and {attack_label(other)}'s top "
        f"{results.config.top_k} share a Jaccard index of {same}; one attack resampled: {noise}"
    )


def stability(results: Results) -> str:
    i = focus_index(results)
    entries = {m: e for m in MODELS if (e := results.ranking.of(m)[i]) and e.expected_jaccard is not None}
    if len(entries) < len(MODELS):
        return f"The top {results.config.top_k} at ε = {label(results.config, i)} has no resampling estimate"

    def jaccard(m: str) -> str:
        ci = entries[m].jaccard_ci
        return f"{entries[m].expected_jaccard:.2f}" + (f" ({ci[0]:.2f}–{ci[1]:.2f})" if ci else "")

    return (
        f"Resampling the images keeps the top {results.config.top_k} at ε = {label(results.config, i)} with "
        f"Jaccard {jaccard('standard')} (standard) and {jaccard('robust')} (robust), 95% intervals"
    )


def noise(results: Results) -> str:
    """The noise share of σ per layer, averaged over the layers (page 1 gives the top-k channels' own)."""
    i = focus_index(results)
    shares: dict[str, float] = {}
    for m in MODELS:
        ratios = [s.noise_ratio for s in _layers(results, m, i).values() if s.noise_ratio is not None]
        if not ratios:
            return f"No noise baseline was measured at ε = {label(results.config, i)}"
        shares[m] = sum(ratios) / len(ratios)
    return (
        f"Random noise of the same size already causes {pct(shares['standard'])} (standard) and "
        f"{pct(shares['robust'])} (robust) of a layer's σ at ε = {label(results.config, i)}, on average over the layers"
    )


def _layers(results: Results, m: str, i: int) -> dict[str, LayerSummary]:
    """Model ``m``'s layers at eps index ``i``; none where nothing is ranked (eps 0)."""
    entry = results.ranking.of(m)[i]
    return entry.layers if entry else {}
