"""The README is a short user's guide that tells the truth about the command line.

Its flag table must name flags that exist, with the defaults the code uses (``Config``, through
``rnnviz.settings.defaults``); logs, dates, timings and test names belong in docs/.
"""

import re
from pathlib import Path

from rnnviz.cli import build_parser
from rnnviz.report.validate.budgets import DEFAULT_EMBED_MB
from rnnviz.settings.defaults import FIELDS, default_text

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
OTHER_DEFAULTS = {"max_embed_mb": f"{DEFAULT_EMBED_MB:g}"}  # flags of the renderer, not of a run's Config


def flag_rows() -> list[tuple[list[str], str]]:
    """(flags, default cell) for each row of the README's table headed ``| flag | ... | default |``."""
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| flag |") and line.endswith("| default |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows.append((re.findall(r"--[a-z][a-z0-9-]*", cells[0]), cells[-1]))
    return rows


def test_the_readme_is_a_short_guide():
    words = len(README.split())
    assert len(README.splitlines()) <= 250 and words <= 3000, f"{len(README.splitlines())} lines, {words} words"
    assert not re.findall(r"\b20\d\d-\d\d-\d\d\b", README), "dates belong in docs/ (benchmarks, testing)"
    assert not re.findall(r"\b\d+(?:\.\d+)? ?(?:ms|s|min|minutes|seconds)\b", README), "timings belong in docs/"
    assert not re.findall(r"\btest_\w+", README), "test names belong in docs/"


def test_the_readme_flag_table_matches_help():
    """Every flag in the table exists, and every default it states is the one the code uses."""
    actions = {s: a for a in build_parser()._actions for s in a.option_strings}
    rows = flag_rows()
    assert len(rows) >= 20
    for flags, default in rows:
        assert flags, f"a flag-table row names no flag (default cell {default!r})"
        missing = [f for f in flags if f not in actions]
        assert not missing, f"the README's flag table names {missing}, which rnnviz-report --help does not list"
        valued = {actions[f].dest for f in flags if actions[f].nargs != 0}  # on/off flags state no value
        want = {d: default_text(d) if d in FIELDS else OTHER_DEFAULTS.get(d) for d in valued}
        stated = re.fullmatch(r"`([^`]*)`", default)
        if stated:
            assert len(flags) == 1, f"{flags}: one flag per row where the table states a default"
            assert stated.group(1) == want.get(actions[flags[0]].dest), f"{flags[0]}: README {default}, code {want}"
        else:  # a default the code has must be stated as it is, not described
            assert all(w is None for w in want.values()), f"{flags}: README {default!r}, the code's default {want}"


def test_the_readme_and_docs_link_to_files_that_exist():
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.relative_to(REPO)} links to {target}, which is missing"


def test_every_preset_is_in_the_readme_and_in_docs_models():
    from rnnviz.settings.presets import PRESETS

    models = (REPO / "docs" / "models.md").read_text()
    for name in PRESETS:
        short = "-" + name.removeprefix("imagenet-")
        assert f"`{name}`" in README or f"`{short}`" in README, f"preset {name} is missing from the README"
        assert f"| `{name}`" in models, f"preset {name} is missing from docs/models.md's table"
