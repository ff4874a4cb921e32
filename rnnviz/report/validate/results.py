"""results.json is untrusted input: check everything the renderer reads before it reads or writes.

The schema (rnnviz/results/schema.json, checked by ``schema_check``) says the types, ranges, names,
per-eps lengths and files; this module adds what comes before it (the version, no NaN anywhere)
and the few rules between fields it cannot word (``cross_checks``). The first problem raises
``UsageError`` with one line naming the field, e.g.
``results.json: renders[3].recipe is 'x/..' (str): expected one of lucid, raw, accent``.
docs/results-schema.md is generated from the schema.
"""

from __future__ import annotations

import math
from pathlib import Path

from rnnviz.common.errors import UsageError
from rnnviz.common.names import SCHEMA_VERSION
from rnnviz.report.validate.attacks import cross_checks
from rnnviz.report.validate.schema_check import check, field


def validate(results, root: Path) -> None:
    """Raise ``UsageError`` naming the first field of ``results`` the renderer cannot use."""
    if not isinstance(results, dict):
        raise UsageError("results.json: the top level is not an object: expected an object")
    _version(results)
    _finite(results, ())
    check(results, Path(root))
    cross_checks(results)


def _version(results: dict) -> None:
    """Which schema applies comes before the schema: an old folder gets a line saying so."""
    if "schema_version" not in results:
        raise UsageError("results.json: schema_version is missing: re-run the job that wrote the folder")
    version = results["schema_version"]
    if version == 1 and type(version) is int:
        raise UsageError("schema_version 1 was written by rnnviz 0.1; re-run the analysis with this version")
    if version != SCHEMA_VERSION or type(version) is not int:
        raise UsageError(
            f"results.json has schema_version {version!r} ({type(version).__name__}); this "
            f"rnnviz renders version {SCHEMA_VERSION} (int): use the rnnviz version that wrote it"
        )


def _finite(value, path: tuple) -> None:
    """No NaN or inf anywhere (JSON Schema has no word for them; Python's json reads them, the
    renderer rewrites results.json, and strict JSON has none)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"results.json: {field(path)} is {value}: expected a finite number")
    if isinstance(value, dict):
        for name, item in value.items():
            _finite(item, (*path, str(name)))
    elif isinstance(value, list):
        for j, item in enumerate(value):
            _finite(item, (*path, j))
