"""results.json's JSON Schema (draft 2020-12): ``schema.json`` beside this module, read at run time.

It is generated from the typed models of rnnviz.results.model (rnnviz.results.schema_gen), so reading
it needs no pydantic. The engine's output is tested against it, ``--from`` validates untrusted folders
with it (rnnviz.report.validate), and docs/results-schema.md is generated from it
(rnnviz.results.schema_doc). Besides the standard keywords it carries a few ``x-`` keywords for rules
JSON Schema cannot state (a list as long as ``config.eps``, a file inside the folder);
rnnviz.report.validate.schema_check implements them. ``expected`` words a node for an error message
and for the docs alike.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from rnnviz.common.names import BIG

# x-per-eps beyond true: null at eps = 0, where nothing is measured (and elsewhere where not measured),
# or null there and an object at every other eps
NULL_AT_ZERO = "null at 0"
NULL_ONLY_AT_ZERO = "null exactly at 0"
CUSTOM = {
    "x-per-eps": "one entry per config.eps",
    "x-eps-index": "an index of config.eps",
    "x-eps-keys": "keys are eps of config.eps above 0, written repr(float(eps)), e.g. '0.1'",
    "x-class-names": "keys are class names from classes",
    "x-attack-keys": "one key per attacks.names",
    "x-file": "a plain relative path to a regular file inside the folder",
    "x-ordered": "low <= high",
    "x-most": "a limit on its length, read before the rest (rnnviz.report.validate.budgets)",
}


@cache
def schema() -> dict[str, Any]:
    """The parsed schema.json (read once; shipped inside the package)."""
    return json.loads(resources.files("rnnviz.results").joinpath("schema.json").read_text(encoding="utf-8"))


def resolve(node: Any) -> Any:
    """``node`` with a local ``$ref`` followed (the schema uses only ``#/$defs/<name>``)."""
    while isinstance(node, dict) and "$ref" in node:
        node = {**schema()["$defs"][node["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def number_text(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return "1e12" if value == BIG else "-1e12" if value == -BIG else f"{value:g}"


def expected(node: Any) -> str:
    """What a value at ``node`` must be, in words: ``a number in [0, 1]``, ``one of lucid, raw``."""
    node = resolve(node)
    if not isinstance(node, dict):
        return "nothing (no value is allowed here)"
    if "x-expected" in node:
        return node["x-expected"]
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return "one of " + ", ".join(map(str, node["enum"]))
    types = node.get("type", [])
    types = [types] if isinstance(types, str) else types
    words = " or ".join(_type_words(t, node) for t in types if t != "null") or "any value"
    return words + (" or null" if "null" in types else "")


def _type_words(kind: str, node: dict) -> str:
    low, high = node.get("minimum"), node.get("maximum")
    if kind in ("number", "integer"):
        noun = "a number" if kind == "number" else "an integer"
        if low is not None and high is not None:
            return f"{noun} in [{number_text(low)}, {number_text(high)}]"
        return f"{noun} >= {number_text(low)}" if low is not None else noun
    if kind == "string":
        return f"a string of at most {node['maxLength']} characters" if "maxLength" in node else "a string"
    if kind == "array":
        if len(node.get("prefixItems", [])) == 2 and node.get("x-ordered"):
            return "[low, high]"
        return "a list" + (" with at least one entry" if node.get("minItems") else "")
    return {"object": "an object", "boolean": "true or false"}.get(kind, kind)
