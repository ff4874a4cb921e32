"""The report's summary sentences, written from the numbers in results.json.

A reader should get the finding without opening a figure, so every sentence
quotes the measured numbers; none is generic boilerplate.
"""
from __future__ import annotations

from collections import Counter

from rnnviz.names import MODELS, non_monotone


def pct(x: float) -> str:
    """A fraction as a percentage; one decimal below 10% so 0.6% does not read as 1%."""
    value = 100 * x
    if value < 10 and value != round(value):
        return f"{value:.1f}%"
    return f"{value:.0f}%"


def eps_text(results: dict, i: int) -> str:
    """The i-th epsilon in both of its forms, e.g. ``0.1 (25.5/255)``."""
    config = results["config"]
    return f"{config['eps_labels'][i]} ({config['eps_255'][i]})"


def focus_index(results: dict) -> int:
    """The eps the summary talks about: the sweet spot, or the largest eps if there is none."""
    best = results["sweet_spot"]["best_index"]
    return best if best is not None and results["config"]["eps"][best] > 0 else len(results["config"]["eps"]) - 1


def attack_name(results: dict) -> str:
    return results["config"]["attack"].upper()


def summary_sentences(results: dict) -> list[str]:
    """Three to five sentences, most important first."""
    sentences = [
        _clean_sentence(results),
        _focus_sentence(results),
        _top_layer_sentence(results),
        _sensitivity_ratio_sentence(results),
        *caveats(results),
    ]
    return [s for s in sentences if s]


def _clean_sentence(results: dict) -> str | None:
    eps = results["config"]["eps"]
    if 0 not in eps:
        return None
    i = eps.index(0)
    acc = results["accuracy"]
    return (f"On clean images the standard model classifies {pct(acc['standard'][i])} of the "
            f"{results['n_images']} test images correctly, the robust model {pct(acc['robust'][i])}.")


def _focus_sentence(results: dict) -> str:
    i = focus_index(results)
    per_class = results["accuracy_per_class"]
    names = [c["name"] for c in results["classes"]]
    if len(names) > 3:
        acc = results["accuracy"]
        return (f"At ε = {eps_text(results, i)} the robust model still classifies "
                f"{pct(acc['robust'][i])} of the images correctly, the standard model "
                f"{pct(acc['standard'][i])}.")
    robust = _join([f"{pct(per_class['robust'][n][i])} of {n}" for n in names])
    standard = _join([pct(per_class["standard"][n][i]) for n in names])
    return (f"At ε = {eps_text(results, i)} the robust model still classifies {robust} images "
            f"correctly, the standard model {standard}.")


def _top_layer_sentence(results: dict) -> str | None:
    i = focus_index(results)
    parts = []
    for model in MODELS:
        top = results["top_channels"][model][i]
        if not top:
            return None
        layer, count = Counter(c["layer"] for c in top).most_common(1)[0]
        parts.append((model, layer, count, len(top)))
    (_, s_layer, s_count, k), (_, r_layer, r_count, _) = parts
    return (f"The standard model's most sensitive channels sit in {s_layer} ({s_count} of its "
            f"top {k} at ε = {results['config']['eps_labels'][i]}), the robust model's in "
            f"{r_layer} ({r_count} of {k}).")


def _sensitivity_ratio_sentence(results: dict) -> str | None:
    i = focus_index(results)
    means = {m: _mean(results["layer_sensitivity"][m][i].values()) for m in MODELS}
    if not means["robust"] or not means["standard"]:
        return None
    ratio = means["standard"] / means["robust"]
    direction = f"{ratio:.1f}× less" if ratio >= 1 else f"{1 / ratio:.1f}× more"
    n_layers = len(results["layer_sensitivity"]["standard"][i])
    return (f"Averaged over the {n_layers} hooked layers, the robust model's channels change "
            f"{direction} than the standard model's under its own attack at the same ε "
            f"(mean σ {means['robust']:.3g} vs {means['standard']:.3g}).")


def caveats(results: dict) -> list[str]:
    """Where accuracy *rises* with eps (any neighbouring pair in eps order), one sentence per model:
    the attack is then only a loose upper bound. The report's summary and the CLI both show these."""
    config, attack = results["config"], attack_name(results)
    labels, sentences = config["eps_labels"], []
    for model in MODELS:
        acc = results["accuracy"][model]
        pairs = non_monotone(acc, config["eps"])
        if pairs:
            rises = _join([f"from ε = {labels[a]} to {labels[b]} ({pct(acc[a])} → {pct(acc[b])})"
                           for a, b in pairs])
            sentences.append(f"{attack} accuracy of the {model} model rises {rises}: {attack} is not "
                             f"monotone in ε, so read it as an upper bound on robust accuracy.")
    return sentences


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def _join(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
