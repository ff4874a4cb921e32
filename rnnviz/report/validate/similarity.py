"""The rules between the fields of ``matching``, ``comparison`` and ``replication`` that the schema
cannot word (called by ``validate`` after the schema passed, so every type here is already right).

``matching`` is one square CKA matrix over its layers, one ``per_layer`` entry per layer, and its
top-k matches per model and eps. A ratio with an interval sits inside it and is standard / robust:
the engine writes both from the same sums (``rnnviz.measures.ranking.compare``), so "50.00× [0.10,
0.20]" can only come from an edited folder.
"""

from __future__ import annotations

import math

from rnnviz.common.errors import UsageError
from rnnviz.common.names import MODELS
from rnnviz.report.validate.limits import entries
from rnnviz.results.schema import number_text


def similarity_checks(results: dict) -> None:
    match = results.get("matching")
    if match:
        _matching(match, results["config"])
    for e, entry in enumerate(results["comparison"]):
        _ratio(entry, f"comparison[{e}]")
    for p, pair in enumerate((results.get("replication") or {}).get("pairs", [])):
        for e, entry in enumerate(pair["comparison"]):
            _ratio(entry, f"replication.pairs[{p}].comparison[{e}]")


def _matching(match: dict, config: dict) -> None:
    layers = match["layers"]
    for i, layer in enumerate(layers):
        if layer not in config["layers"] or layer in layers[:i]:
            _fail(f"matching.layers[{i}]", f"is {layer!r}: expected each layer of config.layers at most once")
    cka = match["cka"]
    if len(cka) != len(layers):
        _fail("matching.cka", f"has {len(cka)} rows: expected {len(layers)}, one per matching.layers")
    for r, row in enumerate(cka):
        if len(row) != len(layers):
            _fail(f"matching.cka[{r}]", f"has {entries(len(row))}: expected {len(layers)} (a square matrix)")
    for layer in layers:
        if layer not in match["per_layer"]:
            _fail(f"matching.per_layer.{layer}"[:140], "is missing: one entry per matching.layers")
    for layer, per in match["per_layer"].items():
        _per_layer(f"matching.per_layer.{layer}"[:140], per, layer in layers)
    n_eps = len(config["eps"])
    for m in MODELS:
        top = match["top"].get(m)
        if top is None:
            _fail(f"matching.top.{m}", "is missing: one list per model")
        if len(top) != n_eps:
            _fail(f"matching.top.{m}", f"has {entries(len(top))}: expected {n_eps}, one per config.eps")


def _per_layer(at: str, per: dict, listed: bool) -> None:
    """One layer's pairing: a channel count per model, a partner per standard channel, n_real of its r."""
    if not listed:
        _fail(at, "is not in matching.layers: expected one entry per matching.layers")
    channels, partner = per["channels"], per["partner"]
    if len(channels) != len(MODELS):
        _fail(f"{at}.channels", f"has {entries(len(channels))}: expected {len(MODELS)}, one per model")
    if len(partner) != channels[0]:
        _fail(f"{at}.partner", f"has {entries(len(partner))}: expected {channels[0]}, one per standard channel")
    if per["n_real"] > len(per["r"]):
        _fail(f"{at}.n_real", f"is {per['n_real']}: expected at most {len(per['r'])}, the matched pairs in r")


def _ratio(entry: dict | None, at: str) -> None:
    """The ratio inside its interval (the engine's percentile interval holds the estimate it was drawn
    around; a margin of the interval's own width allows for a skewed resample) and equal to standard / robust."""
    if not entry or entry.get("ratio") is None:
        return
    ratio, ci = entry["ratio"], entry.get("ratio_ci")
    if ci:
        low, high = ci
        margin = (high - low) + 1e-9 * max(abs(high), 1.0)
        if not low - margin <= ratio <= high + margin:
            _fail(
                f"{at}.ratio",
                f"is {number_text(ratio)}, outside its ratio_ci [{number_text(low)}, {number_text(high)}]: "
                "expected the estimate its interval was drawn around",
            )
    s, r = entry.get("standard"), entry.get("robust")
    if isinstance(s, (int, float)) and isinstance(r, (int, float)) and r > 0:
        if not math.isclose(ratio, s / r, rel_tol=1e-6):
            _fail(
                f"{at}.ratio",
                f"is {number_text(ratio)}: expected standard / robust = {number_text(s / r)}",
            )


def _fail(path: str, problem: str) -> None:
    raise UsageError(f"results.json: {path} {problem}")
