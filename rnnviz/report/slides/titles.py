"""One-sentence slide titles: each slide says its finding, quoted from the numbers in results.json.

The report's summary sentences (``summary``) are too long for a slide title; these are the same
findings in at most about two lines at title size, each number with its 95% interval where the
run has one (a title is what a listener quotes).
"""

from __future__ import annotations

from collections import Counter

from rnnviz.common.intervals import wilson
from rnnviz.common.names import MODELS
from rnnviz.report.text.format import attack_name, focus_index, pct


def label(results: dict, i: int) -> str:
    return results["config"]["eps_labels"][i]


def accuracy(results: dict) -> str:
    i, acc, n = focus_index(results), results["accuracy"], results["n_images"]

    def with_ci(m: str) -> str:
        low, high = wilson(round(acc[m][i] * n), n)
        return f"{pct(acc[m][i])} (95% CI {pct(low)}–{pct(high)})"

    return (
        f"At ε = {label(results, i)} the robust model still gets {with_ci('robust')} right under "
        f"{attack_name(results)}, the standard model {with_ci('standard')}"
    )


def per_class(results: dict) -> str:
    i, per = focus_index(results), results["accuracy_per_class"]
    leads = {c["name"]: 100 * (per["robust"][c["name"]][i] - per["standard"][c["name"]][i]) for c in results["classes"]}
    low, high = min(leads, key=leads.__getitem__), max(leads, key=leads.__getitem__)
    where = f"at ε = {label(results, i)}"
    if len(leads) == 1:
        return f"{low}: the robust model leads by {leads[low]:+.0f} points {where}"
    if leads[low] > 0 and round(leads[low]) == round(leads[high]):
        return f"The robust model leads by {leads[low]:.0f} points in every class {where}"
    if leads[low] > 0:
        spread = f"from {leads[low]:.0f} ({low}) to {leads[high]:.0f} points ({high})"
        return f"The robust model leads in every class {where}: {spread}"
    ahead = sum(v > 0 for v in leads.values())
    return f"The robust model leads in {ahead} of {len(leads)} classes {where} ({leads[low]:+.0f} points for {low})"


def sensitivity(results: dict, i: int) -> str:
    """The summary's cross-model ratio of relative σ (``results["comparison"]``), with its interval."""
    entry = results["comparison"][i]
    if not entry or not entry.get("ratio"):
        return f"Layer sensitivity at ε = {label(results, i)}"
    ci = entry.get("ratio_ci")
    ci_text = f" (95% CI {ci[0]:.1f}–{ci[1]:.1f})" if ci else ""
    return (
        f"At ε = {label(results, i)} the standard model's channels move {entry['ratio']:.1f}×{ci_text} as much "
        "as the robust model's, relative to their own size"
    )


def top_channels(results: dict, i: int) -> str:
    parts = []
    for m in MODELS:
        top = results["top_channels"][m][i]
        if not top:
            return f"The most sensitive channels at ε = {label(results, i)}"
        layer, count = Counter(c["layer"] for c in top).most_common(1)[0]
        parts.append(f"{layer} ({count} of {len(top)})")
    return (
        f"At ε = {label(results, i)} the standard model's most sensitive channels sit in {parts[0]}, "
        f"the robust model's in {parts[1]}"
    )


def example(results: dict, ex: dict) -> str:
    """Where each model is first fooled on this image."""
    eps = results["config"]["eps"]
    first = {}
    for m in MODELS:
        wrong = [k for k, entry in enumerate(ex["by_eps"]) if not entry[m]["correct"]]
        first[m] = f"fooled from ε = {label(results, wrong[0])}" if wrong else "never fooled"
    top = max(eps[: len(ex["by_eps"])])
    return (
        f"One {ex['true_label']}: the standard model is {first['standard']}, the robust model "
        f"{first['robust']} (ε up to {top:g})"
    )


def gallery(results: dict, i: int, model: str, recipe: str) -> str:
    return f"What the {model} model's most sensitive channels at ε = {label(results, i)} respond to ({recipe} renders)"


def stability(results: dict) -> str:
    i = focus_index(results)
    entries = {m: results["ranking"][m][i] or {} for m in MODELS}
    if any(e.get("expected_jaccard") is None for e in entries.values()):
        return "Stability of the top-k ranking under resampling of the images"

    def jaccard(m: str) -> str:
        ci = entries[m].get("jaccard_ci")
        return f"{entries[m]['expected_jaccard']:.2f}" + (f" ({ci[0]:.2f}–{ci[1]:.2f})" if ci else "")

    return (
        f"Resampling the images keeps the top {results['config']['top_k']} at ε = {label(results, i)} with "
        f"Jaccard {jaccard('standard')} (standard) and {jaccard('robust')} (robust), 95% intervals"
    )


def noise(results: dict) -> str:
    i = focus_index(results)
    shares: dict[str, float] = {}
    for m in MODELS:
        ratios = [
            s["noise_ratio"]
            for s in (results["ranking"][m][i] or {}).get("layers", {}).values()
            if s.get("noise_ratio") is not None
        ]
        if not ratios:
            return "Noise baseline: how much of σ random noise of the same size causes"
        shares[m] = sum(ratios) / len(ratios)
    return (
        f"Random noise of the same size already causes {pct(shares['standard'])} (standard) and "
        f"{pct(shares['robust'])} (robust) of σ at ε = {label(results, i)}"
    )
