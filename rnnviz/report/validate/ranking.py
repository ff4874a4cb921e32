"""Validation of the ranking fields of schema_version 2: ``ranking``, ``comparison``, ``bootstrap``
and ``config.rank_by`` (called by ``validate``; same one-line errors naming the field).

Probabilities and Jaccard indices lie in [0, 1], sigmas and ratios are >= 0, intervals are
``[lo, hi]`` with lo <= hi or null where the engine allows it, per-eps lists have len(config.eps)
entries and are null exactly at eps = 0 (sigma is 0 there by construction, nothing is ranked),
and ``per_class`` names only classes from ``classes``.
"""

from __future__ import annotations

from rnnviz.common.errors import UsageError
from rnnviz.common.names import MODELS, RANK_BY

MEASURES = RANK_BY
ROW_NUMBERS = (("sensitivity", 0), ("relative", 0), ("noise", 0), ("noise_ratio", 0), ("excess", None))
LAYER_NUMBERS = ("sigma", "relative", "noise", "noise_ratio")


def validate_ranking(c, results: dict, n: int) -> None:
    config, eps = results["config"], results["config"]["eps"]
    c.text(config, "rank_by", "config", MEASURES)
    classes = {cls["name"] for cls in results["classes"]}
    boot = c.dict(results, "bootstrap")
    c.integer(boot, "resamples", "bootstrap", 0)  # 0: --bootstrap 0, no intervals
    c.number(c.key(boot, "level", "bootstrap"), "bootstrap.level", 0, 1)
    c.text(boot, "noise", "bootstrap")
    ranking = c.dict(results, "ranking")
    for m in MODELS:
        for i, entry in enumerate(c.list(ranking, m, "ranking", n)):
            if _null_at_zero(c, entry, f"ranking.{m}[{i}]", eps[i]):
                _entry(c, entry, f"ranking.{m}[{i}]", classes)
    for i, entry in enumerate(c.list(results, "comparison", "", n)):
        path = f"comparison[{i}]"
        if _null_at_zero(c, entry, path, eps[i]):
            c.text(entry, "measure", path)
            for name in ("ratio", "standard", "robust"):
                c.number(c.key(entry, name, path), f"{path}.{name}", 0)
            _interval(c, entry, "ratio_ci", path, 0, optional=True)


def _null_at_zero(c, entry, path: str, eps: float) -> bool:
    """True where ``entry`` must be an object (eps > 0); null is required at eps = 0."""
    if eps == 0:
        if entry is not None:
            c.fail(path, entry, "null at eps = 0 (nothing is ranked there)")
        return False
    if not isinstance(entry, dict):
        c.fail(path, entry, "an object at eps > 0")
    return True


def _entry(c, entry: dict, path: str, classes: set) -> None:
    c.text(entry, "measure", path, MEASURES)
    for at, row in c.each(c.list(entry, "top", path), f"{path}.top"):
        _channel(c, row, at)
        for name, low in ROW_NUMBERS:
            c.number(c.key(row, name, at), f"{at}.{name}", -1e12 if low is None else low)
        _optional_number(c, row, "p_top", at)  # null with --bootstrap 0
        _interval(c, row, "sensitivity_ci", at, 0, optional=True)
        _interval(c, row, "excess_ci", at, -1e12, optional=True)
    for at, row in c.each(c.list(entry, "candidates", path), f"{path}.candidates"):
        _channel(c, row, at)
        c.number(c.key(row, "p_top", at), f"{at}.p_top", 0, 1)
    _optional_number(c, entry, "expected_jaccard", path)
    _interval(c, entry, "jaccard_ci", path, 0, 1, optional=True)
    layers = c.dict(entry, "layers", path)
    for layer, stats in layers.items():
        at = f"{path}.layers.{layer}"
        if not isinstance(stats, dict):
            c.fail(at, stats, "an object")
        for name in LAYER_NUMBERS:
            c.number(c.key(stats, name, at), f"{at}.{name}", 0)
        _interval(c, stats, "sigma_ci", at, 0, optional=True)
        _interval(c, stats, "relative_ci", at, 0, optional=True)
    for name, per in c.dict(entry, "per_class", path).items():
        at = f"{path}.per_class.{name}"
        if name not in classes:
            c.fail(at, name, "a class name from classes")
        if not isinstance(per, dict):
            c.fail(at, per, "an object")
        for row_at, row in c.each(c.list(per, "top", at), f"{at}.top"):
            _channel(c, row, row_at)
            c.number(c.key(row, "value", row_at), f"{row_at}.value")
        _optional_number(c, per, "jaccard_to_pooled", at)
    for at, point in c.each(c.list(entry, "convergence", path), f"{path}.convergence"):
        c.number(c.key(point, "fraction", at), f"{at}.fraction", 0, 1)
        c.integer(point, "n_images", at)
        _optional_number(c, point, "jaccard", at)


def _channel(c, row: dict, at: str) -> None:
    c.text(row, "layer", at)
    c.integer(row, "channel", at)


def _optional_number(c, obj: dict, name: str, path: str, low: float = 0, high: float = 1) -> None:
    value = c.key(obj, name, path)
    if value is not None:
        c.number(value, f"{path}.{name}", low, high)


def _interval(c, obj: dict, name: str, path: str, low: float, high: float = 1e12, optional: bool = False) -> None:
    value = c.key(obj, name, path)
    if optional and value is None:
        return
    if not isinstance(value, list) or len(value) != 2:
        c.fail(f"{path}.{name}", value, "[low, high]" + (" or null" if optional else ""))
    lo, hi = (c.number(v, f"{path}.{name}[{j}]", low, high) for j, v in enumerate(value))
    if lo > hi:
        raise UsageError(f"results.json: {path}.{name} is [{lo:g}, {hi:g}]: expected low <= high")
