"""The renderer: a results folder (results.json + images) in, figures + report.html + report.pdf out.

It reads only the folder the engine wrote and never imports torch, so
``rnnviz-report --from DIR`` re-renders a report in seconds.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rnnviz.fileio import atomic_write_json, atomic_write_text
from rnnviz.runfolder import INCOMPLETE_MARKER
from rnnviz.errors import UsageError
from rnnviz.report import figures as _figures
from rnnviz.report import html as _html

__all__ = ["ReportFiles", "render_report", "load_results"]

SCHEMA_VERSION = 1


@dataclass
class ReportFiles:
    html: Path
    pdf: Path | None
    slides: Path | None
    figures: list[Path]
    pdf_error: str | None
    pdf_seconds: float


def render_report(results_dir: Path, *, pdf: bool = True, slides: bool = False,
                  progress: bool = True) -> ReportFiles:
    """Write figures/, report.html and (unless ``pdf=False``) report.pdf into ``results_dir``.

    A PDF failure never loses the HTML: it is reported in ``pdf_error`` instead of raised.
    """
    root = Path(results_dir)
    began = time.perf_counter()
    results = load_results(root)
    say = _progress(progress)
    figs = _figures.make_figures(results, root)
    say(f"{len(figs)} figures written to {root / 'figures'}")
    html = _html.render_html(results, figs)
    atomic_write_text(root / "report.html", html)
    say(f"wrote {root / 'report.html'} ({len(html) / 1e6:.1f} MB)")
    errors: list[str] = []
    start = time.perf_counter()
    pdf_path = _try_pdf(html, root / "report.pdf", root, errors, say) if pdf else None
    pdf_seconds = time.perf_counter() - start
    slides_path = (_try_pdf(_html.render_slides(results, figs), root / "slides.pdf", root,
                            errors, say) if slides else None)
    _record_timings(root, results, time.perf_counter() - began, pdf_seconds if pdf else None)
    return ReportFiles(root / "report.html", pdf_path, slides_path,
                       [p for f in figs for p in (f.png, f.svg) if p],
                       "; ".join(errors) or None, pdf_seconds)


def _record_timings(root: Path, results: dict, report_s: float, pdf_s: float | None) -> None:
    """Keep the report stage's time beside the engine's, and mark the folder complete."""
    results["timings"]["report_s"] = round(report_s, 3)
    if pdf_s is not None:
        results["timings"]["pdf_s"] = round(pdf_s, 3)
    atomic_write_json(root / "results.json", results)
    (root / INCOMPLETE_MARKER).unlink(missing_ok=True)


def load_results(root: Path) -> dict:
    """Read and check results.json; every image it names must exist inside ``root``."""
    path = root / "results.json"
    if not path.is_file():
        raise UsageError(f"no results.json in {root}: pass a folder written by an rnnviz run")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path} is not valid JSON ({e}): re-run the job to rewrite it") from None
    version = results.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UsageError(f"{path} has schema_version {version}; this rnnviz renders version "
                         f"{SCHEMA_VERSION}: use the rnnviz version that wrote it")
    for rel in _image_paths(results):
        _check_inside(root, rel)
    return results


def _image_paths(results: dict) -> list[str]:
    paths = []
    for ex in results["examples"]:
        paths.append(ex["image"])
        paths += [e[m][k] for e in ex["by_eps"] for m in ("standard", "robust")
                  for k in ("image", "perturbation")]
    for render in results["renders"]:
        paths += [render["image"], *render["diversity"]]
    return paths


def _check_inside(root: Path, rel: str) -> None:
    resolved = (root / rel).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise UsageError(f"results.json names {rel}, outside {root}: a report reads only its own folder")
    if not resolved.is_file():
        raise UsageError(f"{rel}, named in {root / 'results.json'}, is missing: re-run the job")


def _try_pdf(html: str, target: Path, root: Path, errors: list[str], say) -> Path | None:
    """WeasyPrint failures (missing Pango, a layout bug) become one line in ``errors``."""
    start = time.perf_counter()
    try:
        from rnnviz.report.pdf import write_pdf  # WeasyPrint loads system libraries on import

        write_pdf(html, target, root)
    except Exception as e:  # noqa: BLE001 - any failure here must not cost the HTML
        line = (str(e).strip().splitlines() or [""])[0][:200]
        errors.append(f"{target.name}: {type(e).__name__}: {line}".rstrip(": "))
        say(f"{target.name} not written: {errors[-1]}")
        return None
    say(f"wrote {target} ({time.perf_counter() - start:.1f} s)")
    return target


def _progress(enabled: bool):
    def say(message: str) -> None:
        if enabled:
            print(f"report: {message}", file=sys.stderr)
    return say
