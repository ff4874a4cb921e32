"""docs/results-schema.md, generated from rnnviz/results/schema.json so the two cannot drift.

``python -m rnnviz.results.schema_gen`` rewrites it with schema.json (both from rnnviz.results.model);
tests/results/test_results_schema.py checks the committed one equals ``render()``. One table row per
field: the path, what the value must be (the same words an error message uses,
rnnviz.results.schema.expected) and what it means.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from rnnviz.results.schema import CUSTOM, expected, resolve, schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "results-schema.md"
KEY_NAMES = {"x-class-names": "<class>", "x-attack-keys": "<attack>", "x-eps-keys": "<eps>"}
INTRO = """\
<!-- Generated from rnnviz/results/model/ by `python -m rnnviz.results.schema_gen`; do not edit. -->
# results.json (schema_version {version})

{description}

The engine (`rnnviz.pipeline`) writes `results.json`, `data/*.csv` and the images under `figures/`
into a report folder; the renderer (`rnnviz.report`) reads only these, so `rnnviz-report --from DIR`
re-renders a report without torch. `--from` checks the file against the schema first
(`rnnviz/report/validate/`) and a bad folder ends in one line naming the field and exit 2, e.g.
`results.json: accuracy.robust[2] is 1.5 (float): expected a number in [0, 1]`.

Rules no schema keyword states, checked in code: NaN and ±inf are refused anywhere (Python's json
reads them); `[i]` marks a list with one entry per `config.eps`; files are plain relative paths
(no scheme, absolute path, `..`, backslash or control character) of regular files that resolve
inside the folder (a FIFO is refused unopened); `attacks.primary`, the overlap conditions and the
transfer attack are names from `attacks.names`; matrices are square, one row per condition; a
folder holding `.rnnviz-incomplete` is an unfinished run and is refused. Every file the renderer
writes has a name built from checked parts and lies inside the folder.

"""


def render() -> str:
    root = schema()
    lines = [INTRO.format(version=root["properties"]["schema_version"]["const"], description=root["description"])]
    lines += _table(root, "")
    for name in sorted(_named(root)):
        node = root["$defs"][name]
        lines += [f"\n## `{name}`\n", *([node["description"] + "\n"] if "description" in node else []), ""]
        lines += _table(node, f"<{name}>")
    return "\n".join(lines).rstrip() + "\n"


def _named(root: dict) -> set[str]:
    """The defs documented once in their own table (those with fields of their own)."""
    return {name for name, node in root["$defs"].items() if _has_fields(node)}


def _has_fields(node: dict) -> bool:
    node = resolve(node)
    items = node.get("items")
    return (
        bool(node.get("properties"))
        or isinstance(node.get("additionalProperties"), dict)
        or (isinstance(items, dict) and _has_fields(items))
    )


def _table(node: dict, path: str) -> list[str]:
    rows = ["| field | must be | meaning |", "|---|---|---|"]
    rows += [f"| `{p}` | {_cell(m)} | {_cell(d)} |" for p, m, d in _rows(node, path, required=True)]
    return rows


def _rows(node: dict, path: str, required: bool) -> Iterator[tuple[str, str, str]]:
    ref = node.get("$ref", "").rsplit("/", 1)[-1]
    if ref and ref in _named(schema()) and path and not path.startswith(f"<{ref}>"):
        yield path, f"see [`{ref}`](#{ref})", _notes(node, required)
        return
    node = resolve(node)
    if path:
        yield path, expected(node), _notes(node, required)
    for name, child in node.get("properties", {}).items():
        yield from _rows(child, f"{path}.{name}" if path else name, name in node.get("required", []))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        key = next((v for k, v in KEY_NAMES.items() if k in node), "<name>")
        yield from _rows(extra, f"{path}.{key}", True)
    if isinstance(node.get("items"), dict):
        yield from _rows(node["items"], f"{path}[{'i' if 'x-per-eps' in node else ''}]", True)


def _notes(node: dict, required: bool) -> str:
    node = resolve(node)
    notes = [node["description"]] if "description" in node else []
    for keyword, words in CUSTOM.items():
        value = node.get(keyword)
        if value is None:
            continue
        if keyword == "x-file" and value == "card":
            words = "null, or a path under figures/cards/ (a missing picture is shown as missing)"
        elif keyword == "x-ordered" and isinstance(value, list):
            words = ", ".join(f"{low} <= {high}" for low, high in value)
        notes.append(words + (f", {value}" if isinstance(value, str) and keyword == "x-per-eps" else ""))
    if not required:
        notes.append("optional")
    return "; ".join(notes)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write() -> None:
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC}", file=sys.stderr)
