"""Figures saved by the worker pool (issue 26) are the bytes one process writes."""

import matplotlib
from matplotlib.figure import Figure

from rnnviz.report.figures.look import PAGE
from rnnviz.report.figures.plots import _save
from rnnviz.report.figures.pool import figures_in_parallel


def draw_and_save(k: int, root) -> None:
    """As every plot does: drawn and saved inside the look's rc_context (savefig reads it)."""
    with matplotlib.rc_context(PAGE.rc()):
        fig = Figure(figsize=(4, 3), layout="constrained")
        ax = fig.add_subplot()
        ax.plot(range(10), [(i * k) % 7 for i in range(10)], label=f"series {k}")
        ax.set_title(f"figure {k}: ε and a long title to lay out")
        ax.legend()
        _save(fig, root, f"f{k}")


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
            one = (tmp_path / "one" / "figures" / f"f{k}.{ext}").read_bytes()
            assert one == (tmp_path / "pool" / "figures" / f"f{k}.{ext}").read_bytes()
    assert (tmp_path / "one" / "figures" / "f0.png").read_bytes() != (
        tmp_path / "one" / "figures" / "f1.png"
    ).read_bytes()
