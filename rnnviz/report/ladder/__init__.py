"""The report of a ladder run: ladder.html (and ladder.pdf) in the ladder folder, from ladder.json and
the pair folders it names (each pair's own report sits in its folder).

Page 1 says how each measure moves with training eps as far as its intervals go (``trend``); Figure 1
holds every model's accuracy under the strongest attack, Figure 2 the ladder figure, then the
galleries of every model side by side in ladder order.
"""

from __future__ import annotations

import time
from pathlib import Path

from rnnviz.common.errors import UsageError
from rnnviz.common.files import atomic_write_text
from rnnviz.report import ReportFiles, load_results, render_report, try_pdf
from rnnviz.report.datauri import data_uri
from rnnviz.report.html import environment
from rnnviz.report.ladder.figures import accuracy_figure, ladder_colours, measures_figure
from rnnviz.report.ladder.numbers import RungNumbers, rung_numbers
from rnnviz.report.ladder.page import LadderView, page_context
from rnnviz.report.validate.safety import output
from rnnviz.results.ladder import pair_folders, read_ladder
from rnnviz.results.model import Results
from rnnviz.results.runfolder import is_unfinished


def render_ladder(
    root: Path,
    *,
    pdf: bool = True,
    progress: bool = True,
    max_embed_mb: float | None = None,
    pair_reports: bool = True,
) -> ReportFiles:
    """Each pair's report (HTML; its PDF with ``rnnviz-report --from`` on the pair's folder) unless
    ``pair_reports=False``, then ladder.html and, unless ``pdf=False``, ladder.pdf."""
    root = Path(root)
    if is_unfinished(root):
        raise UsageError(f"{root} is an unfinished ladder; resume it with its original command")
    ladder = read_ladder(root)
    folders = pair_folders(root, ladder)
    for folder in folders if pair_reports else []:
        render_report(folder, pdf=False, progress=False, max_embed_mb=max_embed_mb)
    pairs = [load_results(folder, max_embed_mb) for folder in folders]
    view = ladder_view(root, ladder, pairs)
    html = environment().get_template("ladder.html.j2").render(**page_context(view, data_uri))
    target = output(root, "ladder.html")
    atomic_write_text(target, html)
    if progress:
        print(f"wrote {target}")
    return _with_pdf(root, html, target, pdf, view)


def ladder_view(root: Path, ladder, pairs: list[Results]) -> LadderView:
    """The numbers and figures of the page, from the pairs (checked to share the reference and eps)."""
    _check_pairs(ladder, pairs)
    first = pairs[0]
    focus = focus_index(first.config.eps, ladder.rungs[-1].train_eps)
    rows: list[RungNumbers] = [rung_numbers(first, "standard", focus)]
    rows += [rung_numbers(pair, "robust", focus) for pair in pairs]
    labels = [f"{r.label} ({r.train_eps:g})" for r in ladder.rungs]
    train = [r.train_eps for r in ladder.rungs]
    figures = {
        "accuracy": accuracy_figure(root, labels, first.config.eps, rows),
        "measures": measures_figure(root, train, first.config.eps, rows),
    }
    return LadderView(root, ladder, pairs, rows, focus, figures, ladder_colours(len(rows)))


def focus_index(eps: list[float], top_train_eps: float) -> int:
    """The eps the galleries and the descriptive sentences use: the largest of the grid at or below the
    most robust model's training eps (the threat it was trained for), else the smallest above 0."""
    below = [i for i, e in enumerate(eps) if 0 < e <= top_train_eps + 1e-12]
    return below[-1] if below else next(i for i, e in enumerate(eps) if e > 0)


def _check_pairs(ladder, pairs: list[Results]) -> None:
    reference = {p.models.standard.sha256 for p in pairs}
    grids = {tuple(p.config.eps) for p in pairs}
    if len(reference) > 1 or len(grids) > 1 or not any(e > 0 for e in pairs[0].config.eps):
        raise UsageError(
            f"the pair folders of {ladder.rungs[0].label}'s ladder differ in their reference model or eps grid "
            "(or have no eps above 0): re-run the ladder with one command"
        )


def _with_pdf(root: Path, html: str, target: Path, pdf: bool, view: LadderView) -> ReportFiles:
    """ladder.pdf through the report's own PDF writer (a failure is one line, the HTML stays)."""
    errors: list[str] = []
    start = time.perf_counter()
    pdf_path = try_pdf(html, output(root, "ladder.pdf"), root, errors, lambda line: None) if pdf else None
    figures = list(view.figures.values())
    return ReportFiles(target, pdf_path, None, figures, "; ".join(errors) or None, time.perf_counter() - start)
