"""The rules between fields of results.json that its schema cannot word (called by ``validate``
after the schema passed, so every type here is already right; same one-line errors).

Attack names agree with each other (``attacks.primary``, the overlap conditions and the transfer
attack come from ``attacks.names``), matrices are square with one row per condition, curves have
one point per grid eps, confusion counts match their labels, eps in pixel units stay in [0, 1]
and a PGD run records its settings.
"""

from __future__ import annotations

from rnnviz.common.errors import UsageError
from rnnviz.common.names import MODELS, NORMS

NOISE = "noise"  # the pseudo-attack of the noise baseline, in overlap conditions only


def attack_names(config: dict) -> list[str]:
    """``config.attack``: a list (schema 3) or one name (older writers)."""
    value = config["attack"]
    return [value] if isinstance(value, str) else list(value)


def cross_checks(results: dict) -> None:
    config = results["config"]
    names = attack_names(config)
    linf = [a for a in names if NORMS.get(a) == "linf"]
    if linf and max(config["eps"]) > 1:
        _fail("config.eps", f"has {max(config['eps']):g}: expected eps in [0, 1] for {', '.join(linf)} (pixel units)")
    if any(a.startswith("pgd") for a in names) and not isinstance(config.get("pgd"), dict):
        _fail("config.pgd", "is missing: expected the PGD settings of a run with a PGD attack")
    if "attacks" in results:
        _attacks(results["attacks"])
        primary = results["attacks"]["primary"]
        if primary != names[0]:  # the main body and section D must name one attack
            _fail("attacks.primary", f"is {primary!r}: expected config.attack's first, {names[0]!r}")


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


def _fail(path: str, problem: str) -> None:
    raise UsageError(f"results.json: {path} {problem}")
