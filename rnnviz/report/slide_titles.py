"""One-sentence slide titles: each slide says its finding, quoted from the numbers in results.json.

The report's summary sentences (``summary``) are too long for a slide title; these are the same
findings in at most about two lines at title size.
"""

from __future__ import annotations

from collections import Counter

from rnnviz.names import MODELS
from rnnviz.report.summary import attack_name, focus_index, pct


def label(results: dict, i: int) -> str:
    return results["config"]["eps_labels"][i]


def accuracy(results: dict) -> str:
    i, acc = focus_index(results), results["accuracy"]
    return (
        f"At ε = {label(results, i)} the robust model still gets {pct(acc['robust'][i])} right under "
        f"{attack_name(results)}, the standard model {pct(acc['standard'][i])}"
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
    """The two models' mean relative σ over the layers, as a ratio."""
    means = {}
    for m in MODELS:
        values = [s.get("relative") or 0.0 for s in (results["ranking"][m][i] or {}).get("layers", {}).values()]
        means[m] = sum(values) / len(values) if values else 0.0
    s, r = means["standard"], means["robust"]
    if not s or not r:
        return f"Layer sensitivity at ε = {label(results, i)}"
    more, less, ratio = ("standard", "robust", s / r) if s >= r else ("robust", "standard", r / s)
    return (
        f"At ε = {label(results, i)} the {more} model's layers move {ratio:.1f}× as much as the {less} model's, "
        "relative to their own size"
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
    js = {m: (results["ranking"][m][i] or {}).get("expected_jaccard") for m in MODELS}
    if any(j is None for j in js.values()):
        return "Stability of the top-k ranking under resampling of the images"
    k = results["config"]["top_k"]
    return (
        f"Resampling the images keeps the top {k} at ε = {label(results, i)} with Jaccard "
        f"{js['standard']:.2f} (standard) and {js['robust']:.2f} (robust)"
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
