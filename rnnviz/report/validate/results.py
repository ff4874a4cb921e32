"""results.json is untrusted input: check everything the renderer reads before it reads or writes.

A small explicit validator (no dependency): types, ranges (finite numbers, accuracies in [0, 1]),
the names of rnnviz.common.names (models, attacks, recipes, qualities), ``best_index`` in range, per-eps
lists as long as ``config.eps``, and file names that are plain relative paths to regular files
inside the folder. The first problem raises ``UsageError`` with one line naming the field, e.g.
``results.json: renders[3].recipe is 'x/..': expected one of lucid, raw``.
docs/results-schema.md lists what is checked.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

from rnnviz.common.errors import UsageError
from rnnviz.common.names import MODELS, QUALITIES, RECIPES, SCHEMA_VERSION
from rnnviz.report.validate.attacks import attack_names, validate_attacks
from rnnviz.report.validate.cards import validate_cards
from rnnviz.report.validate.patching import validate_patching
from rnnviz.report.validate.ranking import validate_ranking
from rnnviz.report.validate.safety import regular_file

BIG = 1e12  # no plotted number is larger: keeps axis limits finite
MAX_TEXT = 500  # names and labels longer than this are not names


class _Check:
    """Field access that names the field on failure: ``c.get(r, "config")`` -> ``config``."""

    def __init__(self, root: Path):
        self.root = root

    def fail(self, field: str, value, expected: str):
        if isinstance(value, (dict, list)):
            shown = "an object" if isinstance(value, dict) else "a list"
        else:
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            shown += "" if value is None else f" ({type(value).__name__})"
        raise UsageError(f"results.json: {field} is {shown}: expected {expected}")

    def key(self, obj: Any, name: Any, field: str):
        if isinstance(obj, list):
            return obj[name]  # an index the caller took from the list itself
        if name not in obj:
            raise UsageError(
                f"results.json: {field + '.' if field else ''}{name} is missing: re-run the job that wrote the folder"
            )
        return obj[name]

    def dict(self, obj: Any, name: Any, field: str = "") -> dict:
        path = _path(field, name)
        value = self.key(obj, name, field)
        if not isinstance(value, dict):
            self.fail(path, value, "an object")
        return value

    def list(self, obj, name, field: str = "", length: int | None = None) -> list:
        path = _path(field, name)
        value = self.key(obj, name, field)
        if not isinstance(value, list):
            self.fail(path, value, "a list")
        if length is not None and len(value) != length:
            raise UsageError(f"results.json: {path} has {len(value)} entries: expected {length}, one per config.eps")
        return value

    def text(self, obj: Any, name: Any, field: str = "", choices=None, optional: bool = False):
        path = _path(field, name)
        value = obj.get(name) if optional else self.key(obj, name, field)
        if optional and value is None:
            return None
        if choices is not None and value not in choices:
            self.fail(path, value, "one of " + ", ".join(choices))
        if not isinstance(value, str) or len(value) > MAX_TEXT or "\x00" in value:
            self.fail(path, value, f"a string of at most {MAX_TEXT} characters")
        return value

    def integer(
        self, obj: Any, name: Any, field: str = "", low: int = 0, high: int | None = None, optional: bool = False
    ):
        path = _path(field, name)
        value = obj.get(name) if optional else self.key(obj, name, field)
        if optional and value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
            self.fail(path, value, f"an integer in [{low}, {high}]" if high is not None else f"an integer >= {low}")
        return value

    def number(self, value, path: str, low: float = -BIG, high: float = BIG) -> float:
        if (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            self.fail(path, value, f"a finite number in [{low:g}, {high:g}]")
        return value

    def numbers(self, obj, name, field: str, length: int, low: float = -BIG, high: float = BIG):
        path = _path(field, name)
        values = self.list(obj, name, field, length)
        for j, v in enumerate(values):
            self.number(v, f"{path}[{j}]", low, high)
        return values

    def boolean(self, obj: Any, name: Any, field: str):
        value = self.key(obj, name, field)
        if not isinstance(value, bool):
            self.fail(f"{field}.{name}", value, "true or false")
        return value

    def file(self, obj: Any, name: Any, field: str) -> None:
        regular_file(self.root, self.key(obj, name, field), f"{field}.{name}")

    def each(self, values: Any, path: str):
        for j, item in enumerate(values):
            if not isinstance(item, dict):
                self.fail(f"{path}[{j}]", item, "an object")
            yield f"{path}[{j}]", item


def _path(field: str, name) -> str:
    if isinstance(name, int):
        return f"{field}[{name}]"
    return f"{field}.{name}" if field else name


def _summary(value):
    return type(value).__name__ if isinstance(value, (dict, list)) else value


def validate(results, root: Path) -> None:
    """Raise ``UsageError`` naming the first field of ``results`` the renderer cannot use."""
    c = _Check(Path(root))
    if not isinstance(results, dict):
        c.fail("the top level", results, "an object")
    _finite(results, "")
    version = c.key(results, "schema_version", "")
    if version == 1 and type(version) is int:
        raise UsageError("schema_version 1 was written by rnnviz 0.1; re-run the analysis with this version")
    if version != SCHEMA_VERSION or type(version) is not int:
        raise UsageError(
            f"results.json has schema_version {version!r} ({type(version).__name__}); this "
            f"rnnviz renders version {SCHEMA_VERSION} (int): use the rnnviz version that wrote it"
        )
    try:
        datetime.fromisoformat(c.text(results, "created"))
    except ValueError:
        c.fail("created", results["created"], "a date and time like 2026-11-25T14:03:11")
    n = _config(c, results)
    _models(c, results)
    _accuracy(c, results, n)
    _sensitivity(c, results, n)
    _examples(c, results, n)
    _renders(c, results)
    validate_ranking(c, results, n)
    validate_patching(c, results, n)
    validate_attacks(c, results, n)
    validate_cards(c, results)
    data = c.dict(results, "data_files")
    for name in ("accuracy_per_class", "channel_sensitivity"):
        c.key(data, name, "data_files")
    for name in data:
        c.file(data, name, "data_files")
    for j, _ in enumerate(c.list(results, "warnings") if "warnings" in results else []):
        c.text(results["warnings"], j, "warnings")
    env = c.dict(results, "environment")
    for name in ("rnnviz", "device"):
        c.text(env, name, "environment")
    for name, value in env.items():
        if not isinstance(value, (str, int, float, bool, type(None))):
            c.fail(f"environment.{name}", value, "a string or number")
    timings = c.dict(results, "timings")
    for name, value in timings.items():
        c.number(value, f"timings.{name}", 0)


def _finite(value, path: str) -> None:
    """No NaN or inf anywhere (the renderer rewrites results.json, and strict JSON has none)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"results.json: {path} is {value}: expected a finite number")
    if isinstance(value, dict):
        for name, item in value.items():
            _finite(item, _path(path, str(name)))
    elif isinstance(value, list):
        for j, item in enumerate(value):
            _finite(item, _path(path, j))


def _config(c: _Check, results: dict) -> int:
    config = c.dict(results, "config")
    eps = c.list(config, "eps", "config")
    if not eps:
        raise UsageError("results.json: config.eps is empty: expected at least one eps")
    n = len(eps)
    c.numbers(config, "eps", "config", n, 0, 1)
    for name in ("eps_labels", "eps_255"):
        for j, _ in enumerate(c.list(config, name, "config", n)):
            c.text(config[name], j, f"config.{name}")
    if any(a.startswith("pgd") for a in attack_names(c, config)):
        pgd = c.dict(config, "pgd", "config")
        c.integer(pgd, "steps", "config.pgd", 1)
        if pgd.get("step_size") is not None:
            c.number(pgd["step_size"], "config.pgd.step_size", 0)
        c.boolean(pgd, "random_start", "config.pgd")
    for name in ("top_k", "n_images", "n_examples", "diversity"):
        c.integer(config, name, "config")
    c.integer(config, "seed", "config", low=-(2**63))
    c.text(config, "quality", "config", QUALITIES)
    for name in ("data", "device", "preset"):
        c.text(config, name, "config")
    for name, choices in (("layers", None), ("recipes", RECIPES)):
        for j, _ in enumerate(c.list(config, name, "config")):
            c.text(config[name], j, f"config.{name}", choices)
    return n


def _models(c: _Check, results: dict) -> None:
    models = c.dict(results, "models")
    for m in MODELS:
        model = c.dict(models, m, "models")
        for name in ("name", "arch", "sha256", "source"):
            c.text(model, name, f"models.{m}")
        c.boolean(model, "pickle_used", f"models.{m}")
        c.integer(model, "input_size", f"models.{m}")


def _accuracy(c: _Check, results: dict, n: int) -> None:
    classes = c.list(results, "classes")
    if not classes:
        raise UsageError("results.json: classes is empty: expected at least one class")
    names = []
    for path, cls in c.each(classes, "classes"):
        names.append(c.text(cls, "name", path))
        c.integer(cls, "index", path)
        c.integer(cls, "n_images", path)
    c.integer(results, "n_images")
    accuracy, per_class = c.dict(results, "accuracy"), c.dict(results, "accuracy_per_class")
    for m in MODELS:
        c.numbers(accuracy, m, "accuracy", n, 0, 1)
        per = c.dict(per_class, m, "accuracy_per_class")
        for name in names:
            c.numbers(per, name, f"accuracy_per_class.{m}", n, 0, 1)
    spot = c.dict(results, "sweet_spot")
    c.key(spot, "best_index", "sweet_spot")  # null: the robust model is never ahead
    c.integer(spot, "best_index", "sweet_spot", 0, n - 1, optional=True)


def _sensitivity(c: _Check, results: dict, n: int) -> None:
    layers, top = c.dict(results, "layer_sensitivity"), c.dict(results, "top_channels")
    for m in MODELS:
        for path, per in c.each(c.list(layers, m, "layer_sensitivity", n), f"layer_sensitivity.{m}"):
            for layer, value in per.items():
                c.number(value, f"{path}.{layer}", 0)
        per_eps = c.list(top, m, "top_channels", n)
        for i in range(n):
            for path, row in c.each(c.list(per_eps, i, f"top_channels.{m}"), f"top_channels.{m}[{i}]"):
                c.text(row, "layer", path)
                c.integer(row, "channel", path)
                c.number(c.key(row, "sensitivity", path), f"{path}.sensitivity", 0)


def _examples(c: _Check, results: dict, n: int) -> None:
    for path, ex in c.each(c.list(results, "examples"), "examples"):
        for name in ("class", "true_label"):
            c.text(ex, name, path)
        c.file(ex, "image", path)
        for at, entry in c.each(c.list(ex, "by_eps", path, n), f"{path}.by_eps"):
            c.number(c.key(entry, "eps", at), f"{at}.eps", 0, 1)
            for m in MODELS:
                shot = c.dict(entry, m, at)
                where = f"{at}.{m}"
                c.file(shot, "image", where)
                c.file(shot, "perturbation", where)
                c.text(shot, "pred", where)
                c.number(c.key(shot, "confidence", where), f"{where}.confidence", 0, 1)
                c.boolean(shot, "correct", where)


def _renders(c: _Check, results: dict) -> None:
    for path, render in c.each(c.list(results, "renders"), "renders"):
        c.text(render, "model", path, MODELS)
        c.text(render, "layer", path)
        c.integer(render, "channel", path)
        c.text(render, "recipe", path, RECIPES)
        c.boolean(render, "dead", path)
        c.file(render, "image", path)
        for j, rel in enumerate(c.list(render, "diversity", path)):
            regular_file(c.root, rel, f"{path}.diversity[{j}]")
