"""results.json against its schema (rnnviz/results/schema.json), with the first problem as one line.

``jsonschema`` checks the standard keywords; the ``x-`` keywords are implemented here, each a rule
that needs the rest of the document (``config.eps``, ``classes``, ``attacks.names``) or the folder
(files). The schema says where each rule applies, so a new per-eps list is declared, not coded.
Integers are Python ints only (JSON Schema would accept 3.0 as an integer).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from rnnviz.common.errors import UsageError
from rnnviz.common.names import eps_key
from rnnviz.report.validate.safety import card_picture_problem, file_problem
from rnnviz.results.schema import NULL_ONLY_AT_ZERO, expected, number_text, schema

Error = Iterator[ValidationError]
_TYPES = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda checker, value: isinstance(value, int) and not isinstance(value, bool)
)
_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("local-datetime", raises=ValueError)
def _local_datetime(value: object) -> bool:
    """``2026-11-25T14:03:11``: what ``datetime.isoformat`` writes (no time zone, unlike RFC 3339)."""
    return not isinstance(value, str) or bool(datetime.fromisoformat(value))


def check(results: dict, root: Path) -> None:
    """Raise ``UsageError`` with one line naming the first field of ``results`` the schema refuses."""
    error = next(_validator(results, root).iter_errors(results), None)
    if error is not None:
        raise UsageError(message(error))


def message(error: ValidationError) -> str:
    """``results.json: accuracy.robust[2] is 1.5 (float): expected a number in [0, 1]``."""
    path = field(error.absolute_path)
    if error.validator == "required":
        missing = next(name for name in error.validator_value if name not in error.instance)
        return f"results.json: {_join(path, missing)} is missing: re-run the job that wrote the folder"
    if error.validator == "additionalProperties":
        extra = next(name for name in error.instance if name not in error.schema.get("properties", {}))
        known = ", ".join(error.schema.get("properties", {}))
        return f"results.json: {_join(path, str(extra))[:120]} is not a known key: expected one of {known}"
    if str(error.validator).startswith("x-"):
        return f"results.json: {path} {error.message}"
    if error.validator in ("minItems", "maxItems") and isinstance(error.instance, list):
        if not error.schema.get("prefixItems"):
            bound = "at least" if error.validator == "minItems" else "at most"
            return f"results.json: {path} has {len(error.instance)} entries: expected {bound} {error.validator_value}"
    if error.validator == "propertyNames":
        return f"results.json: {path} has a key {_show(error.instance)}: expected {expected(error.validator_value)}"
    return f"results.json: {path} is {_show(error.instance)}: expected {expected(error.schema)}"


def field(path) -> str:
    """``("accuracy", "robust", 2)`` -> ``accuracy.robust[2]``."""
    text = ""
    for part in path:
        text = f"{text}[{part}]" if isinstance(part, int) else _join(text, part)
    return text or "the top level"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path and path != "the top level" else name


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return text + ("" if value is None else f" ({type(value).__name__})")


def _validator(results: dict, root: Path):
    """A validator whose ``x-`` keywords know this document's eps, classes and attacks and its folder."""
    config = results.get("config")
    eps = config.get("eps") if isinstance(config, dict) else None
    eps = eps if isinstance(eps, list) else None
    rules = _Rules(results, eps, Path(root))
    keywords = {
        "x-per-eps": rules.per_eps,
        "x-eps-index": rules.eps_index,
        "x-eps-keys": rules.eps_keys,
        "x-class-names": rules.class_names,
        "x-attack-keys": rules.attack_keys,
        "x-file": rules.file,
        "x-ordered": rules.ordered,
    }
    cls = validators.extend(Draft202012Validator, keywords, type_checker=_TYPES)
    return cls(schema(), format_checker=_FORMATS)


class _Rules:
    """The ``x-`` keywords: each yields a ValidationError whose message follows the field's name."""

    def __init__(self, results: dict, eps: list | None, root: Path):
        self.results, self.eps, self.root = results, eps, root

    def per_eps(self, validator, mode, instance, schema) -> Error:
        """A list with one entry per config.eps; ``"null at 0"``: null there (nothing is measured at
        eps = 0); ``"null exactly at 0"``: an object everywhere else too."""
        if self.eps is None or not isinstance(instance, list):
            return
        if len(instance) != len(self.eps):
            yield ValidationError(f"has {len(instance)} entries: expected {len(self.eps)}, one per config.eps")
            return
        for i, (entry, e) in enumerate(zip(instance, self.eps)):
            if isinstance(mode, str) and e == 0 and entry is not None:
                problem = f"is {_show(entry)}: expected null at eps = 0 (nothing is measured there)"
                yield ValidationError(problem, path=[i])
            elif mode == NULL_ONLY_AT_ZERO and e != 0 and entry is None:
                yield ValidationError("is None: expected an object at eps > 0", path=[i])

    def eps_index(self, validator, on, instance, schema) -> Error:
        if self.eps and isinstance(instance, int) and not 0 <= instance < len(self.eps):
            yield ValidationError(
                f"is {_show(instance)}: expected an integer in [0, {len(self.eps) - 1}] (an index of config.eps)"
            )

    def eps_keys(self, validator, on, instance, schema) -> Error:
        if self.eps is None or not isinstance(instance, dict):
            return
        keys = [eps_key(e) for e in self.eps if isinstance(e, (int, float)) and e > 0]
        for key in instance:
            if key not in keys:
                yield ValidationError(
                    f"is a key {_show(key)}: expected an eps of config.eps above 0: " + ", ".join(keys), path=[key]
                )

    def class_names(self, validator, mode, instance, schema) -> Error:
        classes = self.results.get("classes")
        if not isinstance(instance, dict) or not isinstance(classes, list):
            return
        names = [c.get("name") for c in classes if isinstance(c, dict)]
        for key in instance:
            if key not in names:
                yield ValidationError(f"is {_show(key)}: expected a class name from classes", path=[key])
        for name in names if mode == "all" else []:
            if isinstance(name, str) and name not in instance:
                yield ValidationError("is missing: re-run the job that wrote the folder", path=[name])

    def attack_keys(self, validator, on, instance, schema) -> Error:
        attacks = self.results.get("attacks")
        names = attacks.get("names") if isinstance(attacks, dict) else None
        if not isinstance(instance, dict) or not isinstance(names, list):
            return
        for name in names:
            if isinstance(name, str) and name not in instance:
                yield ValidationError("is missing: one entry per attacks.names", path=[name])

    def file(self, validator, kind, instance, schema) -> Error:
        problem = (card_picture_problem if kind == "card" else file_problem)(self.root, instance)
        if problem:
            yield ValidationError(problem)

    def ordered(self, validator, pairs, instance, schema) -> Error:
        """``[low, high]`` with low <= high, or an object whose named pairs are in order."""
        if pairs is True and isinstance(instance, list) and len(instance) == 2 and _numbers(instance):
            if instance[0] > instance[1]:
                yield ValidationError(f"is {json.dumps(instance)}: expected low <= high")
        elif isinstance(instance, dict) and pairs is not True:
            for low, high in pairs:
                a, b = instance.get(low), instance.get(high)
                if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a > b:
                    yield ValidationError(
                        f"has {low} {number_text(a)} > {high} {number_text(b)}: expected {low} <= {high}"
                    )


def _numbers(values: list) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
