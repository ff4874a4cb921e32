"""The package's shape: folders in data-flow order, small modules and functions, a README map that matches.

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
MAX_MODULE_LINES = 300
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


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every rnnviz import in ``path``, relative ones resolved."""
    here = dotted(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
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


def test_the_readme_module_map_names_every_module():
    """The README's map lists each module by its path under rnnviz/, and names nothing that is gone."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Module map", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(rnnviz/[\w/]+\.py)`", section))
    present = {str(p.relative_to(REPO)) for p in modules() if p.name != "__init__.py" or p.parent == PACKAGE}
    assert not present - named, f"modules missing from the README map: {sorted(present - named)}"
    assert not named - present, f"README map names modules that do not exist: {sorted(named - present)}"


def test_tests_mirror_the_stages():
    """tests/<stage>/ holds the unit tests of rnnviz/<stage>/; behaviour suites (failures, hostile inputs,
    fuzz, golden, this file) sit in tests/behaviour/ and nothing but shared helpers lies loose."""
    tests = REPO / "tests"
    folders = {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))}
    assert folders <= set(FLOW) | {"behaviour", "fixtures"}, f"test folders outside the stages: {sorted(folders)}"
    loose = sorted(p.name for p in tests.glob("test_*.py"))
    assert not loose, f"tests outside a stage folder: {loose}"
