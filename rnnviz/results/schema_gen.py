"""rnnviz/results/schema.json, generated from the typed models (rnnviz.results.model.Results).

``python -m rnnviz.results.schema_gen`` rewrites schema.json and docs/results-schema.md; tests check
that the committed files equal what this generates. The renderer loads schema.json at run time, so
validating a folder needs neither pydantic's schema generation nor the models.

pydantic's JSON Schema states what the models state; a few steps put it in the form whose errors
rnnviz.report.validate.schema_check words as one line naming the field (an ``anyOf`` error names only
"not valid under any of the given schemas") and whose nodes the docs read:

- the rules on an object's keys go to ``propertyNames`` (pydantic writes ``patternProperties``,
  which let any other key through);
- no ``title`` or ``default`` (pydantic's, from the Python names; absent keys are "optional" in the docs),
  and a description from a docstring on one line;
- an ``anyOf`` of different JSON types becomes one node with a list of types: with null, the other
  branch with null added (a class used only as ``X | None`` takes the null into its own def); two
  other types, ``if``/``then``/``else`` on the first one's type; simple branches, merged;
- ``enum`` and ``const`` without the ``type`` beside them (an error names the values);
- a ``$defs`` entry used once is written out where it is used; the others are named in snake_case.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

from rnnviz.results import schema_doc
from rnnviz.results.model import Results
from rnnviz.results.schema import schema

SCHEMA = Path(__file__).with_name("schema.json")
HEADER = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://github.com/rnnviz/rnnviz/results.schema.json",
    "title": "results.json",
}
Node = dict[str, Any]

# Where a keyword holds schemas: one, a list of them, or a map of names to them
ONE = ("items", "additionalProperties", "propertyNames", "if", "then", "else", "not")
LIST = ("prefixItems", "allOf", "anyOf")
MAP = ("properties", "$defs")
# the keywords that apply to one JSON type only (any other type passes them)
OF_TYPE = {
    "string": {"maxLength", "minLength", "pattern", "format"},
    "number": {"minimum", "maximum"},
    "integer": {"minimum", "maximum"},
    "array": {"items", "prefixItems", "minItems", "maxItems", "uniqueItems"},
    "object": {"properties", "required", "additionalProperties", "propertyNames"},
    "boolean": set(),
}
# The order the validator checks a node's keywords in, so the first error is the telling one: its
# type, then its fields, a key before its value, items before the list's length; the other x- keywords last
ORDER = [
    "$ref", "type", "const", "enum", "format", "description", "properties", "required", "propertyNames",
    "x-eps-keys", "x-class-names", "x-attack-keys", "additionalProperties", "prefixItems", "items",
    "minItems", "maxItems", "uniqueItems", "minLength", "maxLength", "pattern", "minimum", "maximum",
    "if", "then", "else", "allOf",
]  # fmt: skip
RANK = {key: i for i, key in enumerate(ORDER)}


class _Generator(GenerateJsonSchema):
    def dict_schema(self, schema: core_schema.DictSchema) -> Node:
        """``dict[Key, Value]``: the key's rules in ``propertyNames``, every value ``additionalProperties``."""
        json_schema: Node = {"type": "object"}
        keys = self.generate_inner(schema["keys_schema"]) if "keys_schema" in schema else {}
        keys = {k: v for k, v in keys.items() if k not in ("type", "title")}
        if keys:
            json_schema["propertyNames"] = keys
        json_schema["additionalProperties"] = (
            self.generate_inner(schema["values_schema"]) if "values_schema" in schema else True
        )
        self.update_with_validations(json_schema, schema, self.ValidationsMapping.object)
        return json_schema


def generate() -> Node:
    """schema.json's content: ``Results``' JSON Schema in the validator's and the docs' form."""
    raw = Results.model_json_schema(schema_generator=_Generator)
    raw = walk(raw, _plain)
    defs = raw.pop("$defs")
    root, defs = _null_into_defs(raw, defs)

    def collapse(node: Node) -> Node:
        return _one_of_types(node, defs, collapse)

    root, defs = walk(root, collapse), {name: walk(node, collapse) for name, node in defs.items()}
    root, defs = _inline_single_use(root, defs)
    names = {name: def_name(name) for name in defs}
    defs = {names[name]: _tidy(node, names) for name, node in defs.items()}
    return {**HEADER, **_tidy(root, names), "$defs": defs}


def _plain(node: Node) -> Node:
    """No pydantic ``title`` or ``default``; a description from a docstring on one line."""
    node = {k: v for k, v in node.items() if k not in ("title", "default")}
    if isinstance(node.get("description"), str):
        node["description"] = " ".join(node["description"].split())
    return node


def def_name(python_name: str) -> str:
    """The ``$defs`` key of a named type: ``RankingEntry`` -> ``ranking_entry`` (the schema's and the
    docs' spelling of field names)."""
    if not python_name.isidentifier():
        raise ValueError(f"{python_name!r}: give a type used in several places a class or alias name of its own")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", python_name).lower()


def walk(node: Any, fn: Callable[[Node], Node]) -> Any:
    """``node`` with ``fn`` applied to every schema in it, the innermost first."""
    if not isinstance(node, dict):
        return node  # true or false
    out = {}
    for key, value in node.items():
        if key in ONE:
            value = walk(value, fn)
        elif key in LIST:
            value = [walk(v, fn) for v in value]
        elif key in MAP:
            value = {name: walk(v, fn) for name, v in value.items()}
        out[key] = value
    return fn(out)


def refs(node: Any) -> Counter[str]:
    """How often each def is referred to in ``node``."""
    found: Counter[str] = Counter()

    def count(n: Node) -> Node:
        if "$ref" in n:
            found[_ref_name(n)] += 1
        return n

    walk(node, count)
    return found


def _ref_name(node: Node) -> str:
    return node["$ref"].rsplit("/", 1)[1]


def _nullable_ref(node: Node) -> str | None:
    """The def that ``node`` allows besides null (``X | None``), if that is all it says."""
    branches = node.get("anyOf", [])
    if len(branches) == 2 and {"type": "null"} in branches:
        other = branches[1 - branches.index({"type": "null"})]
        if set(other) == {"$ref"}:
            return _ref_name(other)
    return None


def _null_into_defs(root: Node, defs: dict[str, Node]) -> tuple[Node, dict[str, Node]]:
    """A def used only as ``X | None`` allows null itself, and its uses refer to it plainly."""
    everywhere = [root, *defs.values()]
    total = sum((refs(n) for n in everywhere), Counter())
    nullable = Counter(name for n in everywhere for name in _nullable_refs(n))
    always = {name for name, uses in nullable.items() if uses == total[name]}

    def plain(n: Node) -> Node:
        name = _nullable_ref(n)
        if name not in always:
            return n
        return {"$ref": f"#/$defs/{name}", **{k: v for k, v in n.items() if k != "anyOf"}}

    defs = {name: walk(node, plain) for name, node in defs.items()}
    return walk(root, plain), {name: _with_null(node) if name in always else node for name, node in defs.items()}


def _nullable_refs(node: Node) -> list[str]:
    found: list[str] = []

    def note(n: Node) -> Node:
        name = _nullable_ref(n)
        if name:
            found.append(name)
        return n

    walk(node, note)
    return found


def _one_of_types(node: Node, defs: dict[str, Node], collapse: Callable[[Node], Node]) -> Node:
    """An ``anyOf`` whose branches are of different JSON types as one node with a list of types
    (``collapse`` is this function over ``defs``, for a def written out in place)."""
    if "anyOf" not in node:
        return node
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    branches = node["anyOf"]
    if {"type": "null"} in branches and len(branches) == 2:
        other = branches[1 - branches.index({"type": "null"})]
        return {**_with_null(walk(_resolved(other, defs), collapse)), **rest}
    types = [_type_of(b, defs) for b in branches]
    if len(set(types)) != len(types):
        raise ValueError(f"anyOf of one JSON type: write it as one type: {json.dumps(node)[:200]}")
    if all(set(b) - {"type"} <= OF_TYPE[t] for b, t in zip(branches, types) if t != "null"):
        merged: Node = {"type": types}
        for branch in branches:
            merged.update({k: v for k, v in branch.items() if k != "type"})
        return {**merged, **rest}
    if len(branches) == 2:
        then, otherwise = ({k: v for k, v in b.items() if k != "type"} for b in branches)
        return {"type": types, **rest, "if": {"type": types[0]}, "then": then, "else": otherwise}
    raise ValueError(f"anyOf this generator cannot word: {json.dumps(node)[:200]}")


def _resolved(node: Node, defs: dict[str, Node]) -> Node:
    if "$ref" in node:
        return {**defs[_ref_name(node)], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _type_of(node: Node, defs: dict[str, Node]) -> str:
    node = _resolved(node, defs)
    if isinstance(node.get("type"), str):
        return node["type"]
    raise ValueError(f"a branch of anyOf without one JSON type: {json.dumps(node)[:200]}")


def _with_null(node: Node) -> Node:
    """``node`` that also allows null."""
    node = dict(node)
    kinds = node.get("type")
    if kinds is None:
        raise ValueError(f"null beside a node of no JSON type: {json.dumps(node)[:200]}")
    node["type"] = [*([kinds] if isinstance(kinds, str) else kinds), "null"]
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "enum" in node:
        node["enum"] = [*node["enum"], None]
    return node


def _inline_single_use(root: Node, defs: dict[str, Node]) -> tuple[Node, dict[str, Node]]:
    """Each def used once written out where it is used; only the shared ones stay in ``$defs`` (a def
    written out in place before, where null was added to it, counts no more)."""
    uses = refs(root)
    for name in _reachable(uses, defs):
        uses += refs(defs[name])
    once = {name for name in defs if uses[name] == 1}

    def expand(n: Node) -> Node:
        if "$ref" in n and _ref_name(n) in once:
            return walk(_resolved(n, defs), expand)
        return n

    shared = {name: walk(node, expand) for name, node in defs.items() if uses[name] > 1}
    return walk(root, expand), shared


def _reachable(start: Counter[str], defs: dict[str, Node]) -> set[str]:
    """The defs ``start``'s refer to, and theirs."""
    found, todo = set(), list(start)
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo += list(refs(defs[name]))
    return found


def _tidy(node: Node, names: dict[str, str]) -> Node:
    """Refs by the defs' new names; ``type`` only where no enum or const says it; keywords in one order."""

    def tidy(n: Node) -> Node:
        if "$ref" in n:
            n = {**n, "$ref": f"#/$defs/{names[_ref_name(n)]}"}
        if "enum" in n or "const" in n:
            n = {k: v for k, v in n.items() if k != "type"}
        return dict(sorted(n.items(), key=lambda item: RANK.get(item[0], len(ORDER))))

    return walk(node, tidy)


def text(schema: Node) -> str:
    """schema.json as written: one space of indent per level (the format it had when written by hand, so
    its history reads as one file)."""
    return json.dumps(schema, indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    SCHEMA.write_text(text(generate()), encoding="utf-8")
    schema.cache_clear()  # the docs read the file just written
    schema_doc.write()
    print(f"wrote {SCHEMA}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
