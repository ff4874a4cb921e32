"""The report stage (``rnnviz-report --from``) of an earlier tree against this one, on the same folder.

    git archive 65b4d2e | tar -x -C /tmp/base      # the earlier tree (any checkout of it will do)
    python benchmarks/bench_report_stage.py --base /tmp/base [--folder /work/demo-ref] [--repeats 2] [--slides]

Each run renders a fresh copy of ``--folder`` in a child process (``python -m rnnviz.cli --from``,
the tree's code on its PYTHONPATH, this venv), the two trees alternating. The seconds are the
report's own (``report-timings.json``: figures + HTML is ``report_s`` less ``pdf_s``; with
``--slides``, the slides are in the first column too), the wall time is the child's, imports included.
Prints the medians, the ratio this tree / the earlier one, and the sizes of what was written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.doc_table import machine, print_table  # noqa: E402

COLUMNS = ("figures + HTML", "PDF", "wall", "HTML MB", "PDF MB")


def one_run(tree: Path, folder: Path, slides: bool) -> tuple[float, ...]:
    """(figures + HTML s, PDF s, wall s, HTML MB, PDF MB) of one ``--from`` render by ``tree``."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "run"
        shutil.copytree(folder, root)
        for stale in ("report.html", "report.pdf", "slides.pdf", "report-timings.json"):
            (root / stale).unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": str(tree)}
        env.pop("RNNVIZ_FIGURE_WORKERS", None)
        argv = [sys.executable, "-m", "rnnviz.cli", "--from", str(root), "--quiet"] + (["--slides"] if slides else [])
        start = time.perf_counter()
        subprocess.run(argv, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        timings = json.loads((root / "report-timings.json").read_text())
        size = [(root / name).stat().st_size / 1e6 for name in ("report.html", "report.pdf")]
        return timings["report_s"] - timings["pdf_s"], timings["pdf_s"], wall, *size


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", type=Path, required=True, help="a checkout of the earlier tree")
    p.add_argument("--folder", type=Path, default=ROOT / "tests/fixtures/recorded/default")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--slides", action="store_true", help="also write slides.pdf (counted in figures + HTML)")
    args = p.parse_args()
    trees = {"before": args.base.resolve(), "after": ROOT}
    runs: dict[str, list[tuple[float, ...]]] = {name: [] for name in trees}
    for k in range(args.repeats):
        for name, tree in trees.items():
            runs[name].append(one_run(tree, args.folder.resolve(), args.slides))
            print(f"round {k + 1} {name}: " + ", ".join(f"{c} {v:.2f}" for c, v in zip(COLUMNS, runs[name][-1])))
    medians = {name: [statistics.median(column) for column in zip(*got)] for name, got in runs.items()}
    rows = [(name, *(f"{v:.1f} s" for v in m[:3]), *(f"{v:.2f}" for v in m[3:])) for name, m in medians.items()]
    before, after = medians["before"], medians["after"]
    rows.append(("after / before", *(f"{a / b:.2f}" for a, b in zip(after, before))))
    print_table(
        "Report stage, before and after",
        ["tree", *COLUMNS],
        rows,
        " ".join(sys.argv),
        f"{machine()}; median of {args.repeats} alternating runs on {args.folder}",
    )


if __name__ == "__main__":
    main()
