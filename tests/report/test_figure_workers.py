"""Figures saved by the worker pool (issue 26) are the bytes one process writes."""

import matplotlib
import pytest
from matplotlib.figure import Figure

from rnnviz.common.errors import UsageError
from rnnviz.report.figures.figure_workers import WORKERS_ENV, default_workers, figures_in_parallel
from rnnviz.report.figures.look import SLIDE
from rnnviz.report.figures.plots import save_plot


def draw_and_save(k: int, root) -> None:
    """As every plot does: drawn and saved inside the look's rc_context (savefig reads it)."""
    with matplotlib.rc_context(SLIDE.rc()):  # a slide look: PNG and SVG
        fig = Figure(figsize=(4, 3), layout="constrained")
        ax = fig.add_subplot()
        ax.plot(range(10), [(i * k) % 7 for i in range(10)], label=f"series {k}")
        ax.set_title(f"figure {k}: ε and a long title to lay out")
        ax.legend()
        save_plot(fig, root, f"f{k}", SLIDE)


def test_the_pool_writes_the_same_png_and_svg_bytes_as_one_process(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "pool").mkdir()
    for k in range(3):
        draw_and_save(k, tmp_path / "one")
    with figures_in_parallel(2):
        for k in range(3):
            draw_and_save(k, tmp_path / "pool")
    for k in range(3):
        for ext in ("png", "svg"):
            one = (tmp_path / "one" / "figures" / "slides" / f"f{k}.{ext}").read_bytes()
            assert one == (tmp_path / "pool" / "figures" / "slides" / f"f{k}.{ext}").read_bytes()
    assert (tmp_path / "one" / "figures" / "slides" / "f0.png").read_bytes() != (
        tmp_path / "one" / "figures" / "slides" / "f1.png"
    ).read_bytes()


def test_the_worker_count_comes_from_the_environment_or_the_cores(monkeypatch):
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert default_workers() == 3
    monkeypatch.delenv(WORKERS_ENV)
    assert 1 <= default_workers() <= 4
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(WORKERS_ENV, bad)
        with pytest.raises(UsageError, match=WORKERS_ENV):
            default_workers()
