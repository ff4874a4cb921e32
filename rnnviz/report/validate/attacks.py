"""Validation of the keys of several attacks in one run (issue 13): ``config.attack`` (a list, or one
name in older folders), ``attacks`` and ``context`` (called by ``validate``; same one-line errors
naming the field). Both keys may be absent: a folder from before issue 13 renders without them.

Names come from a known set, per-eps lists have len(config.eps) entries, matrices are square with
one row per condition, accuracies and Jaccard indices lie in [0, 1], Spearman in [-1, 1], counts
are integers >= 0, and an interval is ``{correct, n, accuracy, low, high}`` with low <= high.
"""

from __future__ import annotations

from rnnviz.common.errors import UsageError
from rnnviz.common.names import ATTACKS, MODELS

KNOWN = tuple(dict.fromkeys((*ATTACKS, "fgsm", "pgd", "pgd-l2")))  # attack names the report can show
NOISE = "noise"  # the pseudo-attack of the noise baseline, in overlap conditions only
NORMS = ("linf", "l2")
MAX_GRID = 10_000  # points of the FGSM fine grid
MAX_PREDICTED = 1000


def attack_names(c, config: dict) -> list[str]:
    """``config.attack``: a non-empty list of distinct known names (schema 3) or one name."""
    value = c.key(config, "attack", "config")
    if isinstance(value, str):
        return [c.text(config, "attack", "config", KNOWN)]
    if not isinstance(value, list) or not value:
        c.fail("config.attack", value, "a non-empty list of attack names")
    names = [c.text(value, j, "config.attack", KNOWN) for j in range(len(value))]
    if len(set(names)) != len(names):
        c.fail("config.attack", value, "distinct attack names")
    return names


def validate_attacks(c, results: dict, n: int) -> None:
    if "attacks" in results:
        _attacks(c, c.dict(results, "attacks"), n)
    if "context" in results:
        _context(c, c.dict(results, "context"))


def _attacks(c, att: dict, n: int) -> None:
    names = c.list(att, "names", "attacks")
    if not names:
        c.fail("attacks.names", names, "a non-empty list of attack names")
    for j in range(len(names)):
        c.text(names, j, "attacks.names", KNOWN)
    if len(set(names)) != len(names):
        c.fail("attacks.names", names, "distinct attack names")
    c.text(att, "primary", "attacks", names)
    norm = c.dict(att, "norm", "attacks")
    for a in names:
        c.text(norm, a, "attacks.norm", NORMS)
        for m in MODELS:
            _intervals(
                c, c.dict(c.dict(att, "accuracy", "attacks"), a, "attacks.accuracy"), m, f"attacks.accuracy.{a}", n
            )
            _optional_numbers(
                c,
                c.dict(c.dict(att, "sigma_mean", "attacks"), a, "attacks.sigma_mean"),
                m,
                f"attacks.sigma_mean.{a}",
                n,
            )
            per_eps = c.list(c.dict(c.dict(att, "top", "attacks"), a, "attacks.top"), m, f"attacks.top.{a}", n)
            for i in range(n):
                for j, _ in enumerate(c.list(per_eps, i, f"attacks.top.{a}.{m}")):
                    c.text(per_eps[i], j, f"attacks.top.{a}.{m}[{i}]")
            collapse = c.list(
                c.dict(c.dict(att, "collapse", "attacks"), a, "attacks.collapse"), m, f"attacks.collapse.{a}", n
            )
            for i, entry in enumerate(collapse):
                if entry is not None:
                    _collapse(c, entry, f"attacks.collapse.{a}.{m}[{i}]")
    for m in MODELS:
        _optional_numbers(c, c.dict(att, "noise_sigma_mean", "attacks"), m, "attacks.noise_sigma_mean", n)
        _overlap(c, c.dict(c.dict(att, "overlap", "attacks"), m, "attacks.overlap"), f"attacks.overlap.{m}", names, n)
    _fgsm_curve(c, att)
    _transfer(c, att, names, n)
    for j, _ in enumerate(c.list(att, "warnings", "attacks")):
        c.text(att["warnings"], j, "attacks.warnings")


def _interval(c, value, path: str) -> None:
    if not isinstance(value, dict):
        c.fail(path, value, "an interval object {correct, n, accuracy, low, high}")
    total = c.integer(value, "n", path)
    c.integer(value, "correct", path, 0, total)
    lo, acc, hi = (c.number(c.key(value, k, path), f"{path}.{k}", 0, 1) for k in ("low", "accuracy", "high"))
    if lo > hi:
        raise UsageError(f"results.json: {path} has low {lo:g} > high {hi:g}: expected low <= high")


def _intervals(c, obj: dict, name: str, field: str, n: int | None) -> list:
    values = c.list(obj, name, field, n)
    for j, value in enumerate(values):
        _interval(c, value, f"{field}.{name}[{j}]")
    return values


def _optional_numbers(c, obj: dict, name: str, field: str, n: int) -> None:
    for j, value in enumerate(c.list(obj, name, field, n)):
        if value is not None:
            c.number(value, f"{field}.{name}[{j}]", 0)


def _matrix(c, obj: dict, name: str, path: str, size: int, low: float) -> None:
    rows = c.list(obj, name, path)
    if len(rows) != size:
        raise UsageError(f"results.json: {path}.{name} has {len(rows)} rows: expected {size}, one per condition")
    for r in range(size):
        row = c.list(rows, r, f"{path}.{name}")
        if len(row) != size:
            raise UsageError(
                f"results.json: {path}.{name}[{r}] has {len(row)} entries: expected {size} (a square matrix)"
            )
        for j, value in enumerate(row):
            c.number(value, f"{path}.{name}[{r}][{j}]", low, 1)


def _overlap(c, overlap: dict, path: str, names: list[str], n: int) -> None:
    conditions = c.list(overlap, "conditions", path)
    for at, cond in c.each(conditions, f"{path}.conditions"):
        c.text(cond, "attack", at, [*names, NOISE])
        c.number(c.key(cond, "eps", at), f"{at}.eps", 0)
        c.integer(cond, "eps_index", at, 0, n - 1)
    size = len(conditions)
    _matrix(c, overlap, "jaccard", path, size, 0)
    _matrix(c, overlap, "spearman", path, size, -1)
    expected = c.list(overlap, "expected_jaccard", path)
    if len(expected) != size:
        raise UsageError(
            f"results.json: {path}.expected_jaccard has {len(expected)} entries: expected {size}, one per condition"
        )
    for j, value in enumerate(expected):
        if value is not None:
            c.number(value, f"{path}.expected_jaccard[{j}]", 0, 1)


def _fgsm_curve(c, att: dict) -> None:
    curve = c.key(att, "fgsm_curve", "attacks")
    if curve is None:
        return
    if not isinstance(curve, dict):
        c.fail("attacks.fgsm_curve", curve, "an object or null")
    grid = c.list(curve, "eps", "attacks.fgsm_curve")
    if not 1 <= len(grid) <= MAX_GRID:
        c.fail("attacks.fgsm_curve.eps", grid, f"1 to {MAX_GRID} eps")
    c.numbers(curve, "eps", "attacks.fgsm_curve", len(grid), 0, 1)
    for m in MODELS:
        _intervals(c, curve, m, "attacks.fgsm_curve", None)
        if len(curve[m]) != len(grid):
            raise UsageError(
                f"results.json: attacks.fgsm_curve.{m} has {len(curve[m])} entries: expected {len(grid)}, "
                "one per attacks.fgsm_curve.eps"
            )


def _transfer(c, att: dict, names: list[str], n: int) -> None:
    transfer = c.key(att, "transfer", "attacks")
    if transfer is None:
        return
    if not isinstance(transfer, dict):
        c.fail("attacks.transfer", transfer, "an object or null")
    c.text(transfer, "attack", "attacks.transfer", names)
    c.numbers(transfer, "eps", "attacks.transfer", n, 0)
    for s in MODELS:
        acc = c.dict(c.dict(transfer, "accuracy", "attacks.transfer"), s, "attacks.transfer.accuracy")
        sigma = c.dict(c.dict(transfer, "sigma_mean", "attacks.transfer"), s, "attacks.transfer.sigma_mean")
        for t in MODELS:
            _intervals(c, acc, t, f"attacks.transfer.accuracy.{s}", n)
            _optional_numbers(c, sigma, t, f"attacks.transfer.sigma_mean.{s}", n)


def _collapse(c, entry, path: str) -> None:
    if not isinstance(entry, dict):
        c.fail(path, entry, "an object")
    predicted = c.list(entry, "predicted", path)
    if len(predicted) > MAX_PREDICTED:
        c.fail(f"{path}.predicted", predicted, f"at most {MAX_PREDICTED} classes")
    for at, row in c.each(predicted, f"{path}.predicted"):
        c.text(row, "class", at)
        c.integer(row, "index", at)
        c.integer(row, "count", at)
        c.number(c.key(row, "share", at), f"{at}.share", 0, 1)
    conf = c.dict(entry, "confusion", path)
    rows, cols = (c.list(conf, k, f"{path}.confusion") for k in ("rows", "cols"))
    for name, labels in (("rows", rows), ("cols", cols)):
        for j in range(len(labels)):
            c.text(labels, j, f"{path}.confusion.{name}")
    counts = c.list(conf, "counts", f"{path}.confusion")
    if len(counts) != len(rows):
        raise UsageError(
            f"results.json: {path}.confusion.counts has {len(counts)} rows: "
            f"expected {len(rows)}, one per confusion.rows"
        )
    for r in range(len(rows)):
        row = c.list(counts, r, f"{path}.confusion.counts")
        if len(row) != len(cols):
            raise UsageError(
                f"results.json: {path}.confusion.counts[{r}] has {len(row)} entries: expected {len(cols)}, "
                "one per confusion.cols"
            )
        for j in range(len(row)):
            c.integer(row, j, f"{path}.confusion.counts[{r}]")
    for name in ("dominant", "rising"):
        for j, _ in enumerate(c.list(entry, name, path)):
            c.text(entry[name], j, f"{path}.{name}")


def _context(c, context: dict) -> None:
    train = c.key(context, "train_eps", "context")
    if train is not None:
        if not isinstance(train, dict):
            c.fail("context.train_eps", train, "an object or null")
        for m in MODELS:
            if c.key(train, m, "context.train_eps") is not None:
                c.number(train[m], f"context.train_eps.{m}", 0)
        c.text(train, "norm", "context.train_eps", NORMS)
        c.text(train, "source", "context.train_eps")
    full = c.key(context, "full_test_accuracy", "context")
    if full is not None:
        if not isinstance(full, dict):
            c.fail("context.full_test_accuracy", full, "an object or null")
        for m in MODELS:
            if c.key(full, m, "context.full_test_accuracy") is not None:
                c.number(full[m], f"context.full_test_accuracy.{m}", 0, 100)
        c.text(full, "source", "context.full_test_accuracy")
