"""The demo's time per stage, from the ``timings`` that every results.json carries, as the table of
docs/benchmarks.md ("The demo"): one column per folder given, e.g. a fresh render cache and a cached one.

    make demo; make demo                      # the second run finds its renders cached
    python benchmarks/demo_timings.py reports/<date>-fashion-sneaker-bag-ankle-boot reports/<date>-...-2

The whole run's wall clock (Python and torch start-up included) is not in results.json: time
``make demo`` for it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.doc_table import print_table  # noqa: E402
from rnnviz.report import TIMINGS_FILE  # noqa: E402

STAGES = {  # results.json's timings key -> the stage in words
    "load_s": "load models and images",
    "attack_s": "attack + sensitivity + trust + exemplars",
    "strong_s": "strong evaluation (APGD-CE + APGD-T)",
    "cross_s": "cross-model statistics (channel matching, CKA)",
    "replicate_s": "further pairs (--replicate)",
    "transfer_s": "transfer and the FGSM curve",
    "patch_s": "activation patching",
    "pool_s": "exemplar pool (every other class)",
    "cards_s": "channel cards",
    "render_s": "feature visualization",
    "figures_html_s": "report: figures + HTML",
    "pdf_s": "report: PDF (WeasyPrint)",
}


def stage_seconds(folder: Path) -> dict[str, float]:
    """The folder's timings by stage; the report's own time (report-timings.json beside results.json,
    or inside it in older folders) is split into its PDF and the rest."""
    timings = dict(json.loads((folder / "results.json").read_text())["timings"])
    report = folder / TIMINGS_FILE
    if report.is_file():
        timings.update(json.loads(report.read_text()))
    if "report_s" in timings:
        timings["figures_html_s"] = timings.pop("report_s") - timings.get("pdf_s", 0.0)
    return timings


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", type=Path, help="finished report folders (with results.json)")
    args = p.parse_args()
    runs = [stage_seconds(f) for f in args.folders]
    first = json.loads((args.folders[0] / "results.json").read_text())
    env = first["environment"]
    where = f"measured {first['created'][:10]}, {env['platform']}, torch {env['torch']}, {env['threads']} threads"
    rows = [
        (words, *(f"{run[key]:.1f} s" if key in run else "-" for run in runs))
        for key, words in STAGES.items()
        if any(key in run for run in runs)
    ]
    print_table("The demo", ["stage", *(f.name for f in args.folders)], rows, " ".join(sys.argv), where)


if __name__ == "__main__":
    main()
