"""The rules between fields of results.json that its schema cannot word (called by ``validate``
after the schema passed, so every type here is already right; same one-line errors).

Attack names agree with each other (``attacks.primary``, the overlap conditions and the transfer
attack come from ``attacks.names``), matrices are square with one row per condition, curves have
one point per grid eps, confusion counts match their labels, eps in pixel units stay in [0, 1]
and a PGD run records its settings. ``matching`` is one square CKA matrix over its layers with one
``per_layer`` entry per layer and its top-k matches per model and eps; a ratio with an interval
(``comparison``, ``replication``) lies in it and is standard / robust: the engine writes both from
the same sums (``rnnviz.measures.ranking.compare``), so "50.00× [0.10, 0.20]" comes from an edited folder.
"""

from __future__ import annotations

import math

from rnnviz.common.errors import UsageError
from rnnviz.common.names import MODELS, NORMS
from rnnviz.report.validate.budgets import entries
from rnnviz.results.schema import number_text

NOISE = "noise"  # the pseudo-attack of the noise baseline, in overlap conditions only


def cross_checks(results: dict) -> None:
    config = results["config"]
    names = config["attack"]
    linf = [a for a in names if NORMS.get(a) == "linf"]
    if linf and max(config["eps"]) > 1:
        _fail("config.eps", f"has {max(config['eps']):g}: expected eps in [0, 1] for {', '.join(linf)} (pixel units)")
    if any(a.startswith("pgd") for a in names) and not isinstance(config.get("pgd"), dict):
        _fail("config.pgd", "is missing: expected the PGD settings of a run with a PGD attack")
    _attacks(results["attacks"])
    primary = results["attacks"]["primary"]
    if primary != names[0]:  # the main body and section D must name one attack
        _fail("attacks.primary", f"is {primary!r}: expected config.attack's first, {names[0]!r}")
    similarity_checks(results)


def _attacks(att: dict) -> None:
    names = att["names"]
    _one_of(att["primary"], names, "attacks.primary")
    for m in MODELS:
        overlap, path = att["overlap"][m], f"attacks.overlap.{m}"
        for j, cond in enumerate(overlap["conditions"]):
            _one_of(cond["attack"], [*names, NOISE], f"{path}.conditions[{j}].attack")
        size = len(overlap["conditions"])
        for name in ("jaccard", "spearman"):
            _shape(overlap[name], f"{path}.{name}", size, size, "condition")
        _length(overlap["expected_jaccard"], f"{path}.expected_jaccard", size, "one per condition")
        for a in names:
            for i, entry in enumerate(att["collapse"][a][m]):
                if entry is not None:
                    _confusion(entry["confusion"], f"attacks.collapse.{a}.{m}[{i}].confusion")
    curve = att.get("fgsm_curve")
    if curve is not None:
        for m in MODELS:
            _length(curve[m], f"attacks.fgsm_curve.{m}", len(curve["eps"]), "one per attacks.fgsm_curve.eps")
    if att.get("transfer") is not None:
        _one_of(att["transfer"]["attack"], names, "attacks.transfer.attack")


def _confusion(conf: dict, path: str) -> None:
    _shape(conf["counts"], f"{path}.counts", len(conf["rows"]), len(conf["cols"]), "confusion.rows", "confusion.cols")


def _shape(rows: list, path: str, n_rows: int, n_cols: int, row_name: str, col_name: str | None = None) -> None:
    _length(rows, path, n_rows, f"one per {row_name}", "rows")
    for r, row in enumerate(rows):
        _length(row, f"{path}[{r}]", n_cols, f"one per {col_name}" if col_name else "a square matrix")


def _length(values: list, path: str, n: int, why: str, noun: str = "entries") -> None:
    if len(values) != n:
        _fail(path, f"has {len(values)} {noun}: expected {n}, {why}")


def _one_of(value: str, names: list[str], path: str) -> None:
    if value not in names:
        _fail(path, f"is {value!r}: expected one of {', '.join(names)}")


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
