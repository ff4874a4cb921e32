"""The report stage (``--from``): the image grids' PNG compression, zlib's default level against optimize=True.

    python benchmarks/bench_report.py [--repeats 2] [--folder tests/fixtures/recorded/default]

Each run renders a fresh copy of a finished folder (figures, HTML, PDF) in this process, the two
settings alternating, and reports the median wall seconds of figures + HTML and of the PDF, with
the HTML's size. ``rnnviz.report.figures.look.GRID_PNG_OPTIONS`` is the setting compared: it governs
the image grids (galleries, diversity, examples); the embedded paletted copies keep
``look.PNG_OPTIONS`` and the plots' own PNGs ``look.PLOT_PNG_OPTIONS`` either way.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.doc_table import machine, print_table  # noqa: E402
from rnnviz.report import render_report  # noqa: E402
from rnnviz.report.figures import look  # noqa: E402

SETTINGS = {"optimize=True (the plain way)": {"optimize": True}, "zlib level 6 (the report's)": {"compress_level": 6}}


def one_run(folder: Path, options: dict) -> tuple[float, float, float]:
    """(figures + HTML seconds, PDF seconds, HTML MB) of one render of a copy of ``folder``."""
    look.GRID_PNG_OPTIONS = options
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "run"
        shutil.copytree(folder, root)
        start = time.perf_counter()
        files = render_report(root, pdf=True, progress=False)
        total = time.perf_counter() - start
        return total - files.pdf_seconds, files.pdf_seconds, files.html.stat().st_size / 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--folder", type=Path, default=Path("tests/fixtures/recorded/default"))
    args = p.parse_args()
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in SETTINGS}
    for _ in range(args.repeats):
        for name, options in SETTINGS.items():
            runs[name].append(one_run(args.folder, options))
    rows = []
    for name, got in runs.items():
        figures, pdf, size = (statistics.median(column) for column in zip(*got))
        rows.append((name, f"{figures:.1f} s", f"{pdf:.1f} s", f"{size:.2f} MB"))
    optimized, level6 = (statistics.median(r[0] for r in runs[name]) for name in SETTINGS)
    rows.append(("ratio level 6 / optimize (figures + HTML)", f"{level6 / optimized:.2f}", "", ""))
    print_table(
        "Report stage",
        ["grids' PNG setting", "figures + HTML", "PDF", "HTML size"],
        rows,
        " ".join(sys.argv),
        f"{machine()}; median of {args.repeats} alternating runs on {args.folder}",
    )


if __name__ == "__main__":
    main()
