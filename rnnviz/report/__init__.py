"""The renderer: a results folder (results.json + images) in, figures + report.html + report.pdf out.

It reads only the folder the engine wrote and never imports torch, so
``rnnviz-report --from DIR`` re-renders a report in seconds.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from rnnviz.common.errors import UsageError
from rnnviz.common.files import atomic_write_json, atomic_write_text, text_values
from rnnviz.report import datauri as _datauri
from rnnviz.report import html as _html
from rnnviz.report.figures.figure_workers import figures_in_parallel
from rnnviz.report.sections import cards as _cards
from rnnviz.report.sections import catalogue as _catalogue
from rnnviz.report.slides import deck as _slides
from rnnviz.report.validate.budgets import check_bytes, check_counts, check_json_size
from rnnviz.report.validate.results import validate
from rnnviz.report.validate.safety import output, regular_file
from rnnviz.results.model import Results
from rnnviz.results.runfolder import is_unfinished

__all__ = ["ReportFiles", "render_report", "load_results", "TIMINGS_FILE"]

TIMINGS_FILE = "report-timings.json"  # the report stage's seconds (results.json stays the engine's)


@dataclass
class ReportFiles:
    html: Path
    pdf: Path | None
    slides: Path | None
    figures: list[Path]
    pdf_error: str | None
    pdf_seconds: float
    slide_figures: list = field(default_factory=list)  # slides.SlideFigure: placed width, smallest text
    slide_titles: list[str] = field(default_factory=list)  # the deck's slides after the title slide


def render_report(
    results_dir: Path,
    *,
    pdf: bool = True,
    slides: bool = False,
    progress: bool = True,
    max_embed_mb: float | None = None,
) -> ReportFiles:
    """Write figures/, report.html and (unless ``pdf=False``) report.pdf into ``results_dir``.

    A PDF failure never loses the HTML: it is reported in ``pdf_error`` instead of raised.
    """
    root = Path(results_dir)
    began = time.perf_counter()
    results = load_results(root, max_embed_mb)
    say = _progress(progress)
    with figures_in_parallel():  # issue 26: figures saved by worker processes
        figs = _catalogue.make_figures(results, root)
        cards = _cards.context(results, root)  # its pictures' embedded copies, while the workers finish
        if pdf or slides:
            _load_pdf_writer()  # and WeasyPrint's import, a second or two: this process would wait
    say(f"{len(figs)} figures written to {root / 'figures'}")
    html = _html.render_html(results, figs, cards)
    atomic_write_text(output(root, "report.html"), html)
    say(f"wrote {root / 'report.html'} ({len(html) / 1e6:.1f} MB)")
    errors: list[str] = []
    with figures_in_parallel() if slides else nullcontext():  # the slides' figures, while report.pdf is written
        try:
            deck = _slides.build(results, root, figs) if slides else []
        finally:  # a slide that fails to build costs no report.pdf
            start = time.perf_counter()
            pdf_path = try_pdf(html, output(root, "report.pdf"), root, errors, say) if pdf else None
            pdf_seconds = time.perf_counter() - start
    slides_path = (
        try_pdf(_html.render_slides(results, figs, deck), output(root, "slides.pdf"), root, errors, say)
        if slides
        else None
    )
    _record_timings(root, time.perf_counter() - began, pdf_seconds if pdf else None)
    _datauri.clear()
    return ReportFiles(
        root / "report.html",
        pdf_path,
        slides_path,
        [f.png for f in figs],
        "; ".join(errors) or None,
        pdf_seconds,
        [s.figure for s in deck if s.figure],
        [s.title for s in deck if s.shown],
    )


def _record_timings(root: Path, report_s: float, pdf_s: float | None) -> None:
    """The report stage's own seconds, in report-timings.json beside report.html: results.json is the
    engine's record of the run (a folder re-rendered with ``--from`` may be someone else's), so the
    renderer never rewrites it."""
    timings = {"report_s": round(report_s, 3)}
    if pdf_s is not None:
        timings["pdf_s"] = round(pdf_s, 3)
    atomic_write_json(output(root, TIMINGS_FILE), timings)


def load_results(root: Path, max_embed_mb: float | None = None) -> Results:
    """Read results.json and check it (``check_counts``, ``validate``, ``check_bytes``) before anything else is
    read or written, then parse it into the typed ``Results`` the renderer reads (the checks guard a folder
    from someone else; the model gives the renderer attributes, not keys).

    A folder whose run was interrupted is refused: its results are incomplete.
    """
    root = Path(root)
    if not (root / "results.json").exists() and not (root / "results.json").is_symlink():
        raise UsageError(f"no results.json in {root}: pass a folder written by an rnnviz run")
    if is_unfinished(root):
        raise UsageError(f"{root} is an unfinished run; resume it with its original command")
    path = regular_file(root, "results.json", "the folder's results.json")
    check_json_size(path, max_embed_mb)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UsageError(f"{path} is not valid JSON ({line}): re-run the job to rewrite it") from None
    check_counts(results)
    results = text_values(results)  # a lone surrogate ("\\udcff") would stop report.html being written
    validate(results, root)
    check_bytes(results, root, max_embed_mb)
    return Results.model_validate(results)


def _load_pdf_writer() -> None:
    """Import WeasyPrint ahead of the PDF; a failure is left to ``try_pdf``, which imports it again
    and reports it in one line."""
    try:
        import rnnviz.report.pdf  # noqa: F401
    except Exception:  # noqa: BLE001, S110 - reported by try_pdf
        pass


def try_pdf(html: str, target: Path, root: Path, errors: list[str], say) -> Path | None:
    """WeasyPrint failures (missing Pango, a layout bug) become one line in ``errors``."""
    start = time.perf_counter()
    try:
        from rnnviz.report.pdf import write_pdf

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
