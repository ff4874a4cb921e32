"""The package's shape: folders in data-flow order, small modules and functions, no reach into another
module's private names, no import cycle between sibling folders, and an architecture map that matches.

These are read from the source with ``ast`` (nothing is imported), so a move that breaks the
shape fails here with the file and the rule it broke.
"""

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "rnnviz"
# data-flow order: a module may import its own stage or an earlier one, never a later one
FLOW = ["common", "settings", "models", "data", "sweep", "measures", "channels", "results", "pipeline", "report"]
TOP = {"__init__", "__main__", "cli"}  # the public API, `python -m rnnviz` and the CLI sit above the flow
MAX_MODULE_LINES = 400  # a module that holds one job may be long; none is cut to meet a number
MAX_FUNCTION_LINES = 60
MAX_TOP_MODULES = 10


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def dotted(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage(name: str) -> str:
    """The flow stage of a dotted module name under rnnviz ('rnnviz.sweep.hooks' -> 'sweep')."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_module(name: str) -> bool:
    return (PACKAGE / f"{name}.py").exists() or (PACKAGE / name).is_dir()


def _base(node: ast.ImportFrom, package: list[str]) -> str:
    """The absolute module an ``ImportFrom`` reads from, relative ones resolved."""
    if not node.level:
        return node.module or ""
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every rnnviz import in ``path``, relative ones resolved."""
    here = dotted(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            name = _base(node, package)
            if name == "rnnviz":  # `from rnnviz import x`: x is a module, or a name of the lazy root
                found += [(node.lineno, f"rnnviz.{a.name}") for a in node.names if _is_module(a.name)]
            elif name.startswith("rnnviz."):
                found.append((node.lineno, name))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("rnnviz.")]
    return found


def test_no_import_runs_back_up_the_flow():
    wrong = []
    for path in modules():
        mine = stage(dotted(path))
        if mine in TOP:
            continue
        for line, name in imported(path):
            theirs = stage(name)
            if theirs in TOP or FLOW.index(theirs) > FLOW.index(mine):
                wrong.append(f"{path.relative_to(REPO)}:{line} ({mine}) imports {name} ({theirs})")
    assert not wrong, "imports against the flow " + " > ".join(FLOW) + ":\n" + "\n".join(wrong)


def test_every_module_sits_in_a_stage():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.stem not in TOP]
    assert not loose, f"modules directly under rnnviz/ outside {sorted(TOP)}: {loose}"
    stages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert stages == set(FLOW), f"stage folders {sorted(stages)} differ from the flow {FLOW}"
    assert len(list(PACKAGE.glob("*.py"))) <= MAX_TOP_MODULES


def test_modules_and_functions_are_small():
    big = []
    for path in modules():
        text = path.read_text()
        if (n := len(text.splitlines())) > MAX_MODULE_LINES:
            big.append(f"{path.relative_to(REPO)}: {n} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if (n := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES:
                    big.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {n} lines")
    assert not big, "\n".join(big)


def test_the_architecture_map_names_every_module():
    """docs/architecture.md's map lists each module by its path under rnnviz/, and names nothing that is gone."""
    doc = (REPO / "docs" / "architecture.md").read_text()
    section = doc.split("## Module map", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(rnnviz/[\w/]+\.py)`", section))
    present = {str(p.relative_to(REPO)) for p in modules() if p.name != "__init__.py" or p.parent == PACKAGE}
    assert not present - named, f"modules missing from the map in docs/architecture.md: {sorted(present - named)}"
    assert not named - present, f"docs/architecture.md's map names modules that do not exist: {sorted(named - present)}"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_uses(path: Path) -> list[str]:
    """Every use in ``path`` of another rnnviz module's _private name: ``from rnnviz.x import _f`` and
    ``module._f`` where ``module`` was imported as an rnnviz module."""
    mine = dotted(path)
    package = mine.split(".") if path.name == "__init__.py" else mine.split(".")[:-1]
    tree = ast.parse(path.read_text())
    aliases: dict[str, str] = {}  # a local name -> the rnnviz module it is bound to
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (base := _base(node, package)).startswith("rnnviz"):
            for a in node.names:
                full = f"{base}.{a.name}"
                if _is_module(full.removeprefix("rnnviz.").replace(".", "/")):
                    aliases[a.asname or a.name] = full
                elif _private(a.name) and base != mine:
                    uses.append(f"{path.relative_to(REPO)}:{node.lineno} imports {base}.{a.name}")
        elif isinstance(node, ast.Import):
            aliases.update({a.asname: a.name for a in node.names if a.asname and a.name.startswith("rnnviz.")})
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name):
            module = aliases.get(node.value.id)
            if module and module != mine:
                uses.append(f"{path.relative_to(REPO)}:{node.lineno} uses {module}.{node.attr}")
    return uses


def test_no_module_uses_another_modules_private_names():
    """A helper two modules share is public in its home module; a _name is its own module's business."""
    uses = [use for path in modules() for use in private_uses(path)]
    assert not uses, "private names used across modules (make the helper public in its home):\n" + "\n".join(uses)


def test_sibling_folders_do_not_import_each_other():
    """Inside a folder of rnnviz/, its subfolders and modules form no import cycle (figures draw, sections
    compose figures and text: never the other way round as well)."""
    graph: dict[str, set[str]] = {}
    for path in modules():
        parts = dotted(path).split(".")
        for _, name in imported(path):
            theirs = name.split(".")
            shared = next((i for i, (a, b) in enumerate(zip(parts, theirs)) if a != b), None)
            if shared is not None and shared < len(parts) and shared < len(theirs):
                mine, other = ".".join(parts[: shared + 1]), ".".join(theirs[: shared + 1])
                graph.setdefault(mine, set()).add(other)
    cycles = sorted(f"{a} -> {b} -> ... -> {a}" for a in graph for b in graph[a] if a in _reachable(graph, b))
    assert not cycles, "folders or modules that import each other:\n" + "\n".join(cycles)


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in graph.get(todo.pop(), set()) - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_tests_mirror_the_stages():
    """tests/<stage>/ holds the unit tests of rnnviz/<stage>/; behaviour suites (failures, hostile inputs,
    fuzz, golden, this file) sit in tests/behaviour/ and nothing but shared helpers lies loose."""
    tests = REPO / "tests"
    folders = {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))}
    assert folders <= set(FLOW) | {"behaviour", "fixtures"}, f"test folders outside the stages: {sorted(folders)}"
    loose = sorted(p.name for p in tests.glob("test_*.py"))
    assert not loose, f"tests outside a stage folder: {loose}"
