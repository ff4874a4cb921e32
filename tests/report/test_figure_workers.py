"""Figures saved by the worker pool (issue 26) are the bytes one process writes; a plot is drawn
once (``pixels``) to the pixels savefig writes; a worker makes the HTML's copy of what it saves."""

import base64
import os
import pickle
import sys
import threading

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from rnnviz.common.errors import UsageError
from rnnviz.report import datauri
from rnnviz.report.datauri import PREFIX, data_uri
from rnnviz.report.figures import embed
from rnnviz.report.figures.figure_workers import (
    WORKERS_ENV,
    default_workers,
    figures_in_parallel,
    prefetch,
    start_method,
)
from rnnviz.report.figures.look import PAGE, PLOT_COLOURS, SLIDE
from rnnviz.report.figures.pixels import write_png
from rnnviz.report.figures.plots import DPI, save_plot


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


def page_figure(k: int) -> Figure:
    """A page-look plot as the report draws one: constrained layout, a legend outside, a tight crop."""
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(range(6), [(i * k) % 5 + 1 for i in range(6)], color="#0072B2", hatch="///", label="robust")
    ax.set_xticks(range(6), [f"layer{i}" for i in range(6)], rotation=30, ha="right")
    ax.set_title(f"figure {k}: ε")
    fig.legend(loc="outside upper center")
    return fig


@pytest.mark.parametrize("look", [PAGE, SLIDE])
def test_one_drawing_writes_the_pixels_savefig_writes(tmp_path, look):
    """``write_png`` (one layout, one draw, RGB) against matplotlib's own savefig of the same figure."""
    options = {"format": "png", "dpi": DPI, "metadata": {"Software": None}}
    with matplotlib.rc_context(look.rc()):
        fig = page_figure(3)
        twin = pickle.loads(pickle.dumps(fig))
        twin.savefig(tmp_path / "savefig.png", **options)
        pixels = write_png(fig, tmp_path / "ours.png", options)
    theirs = np.asarray(Image.open(tmp_path / "savefig.png").convert("RGB"))
    ours = Image.open(tmp_path / "ours.png")
    assert ours.mode == "RGB" and np.array_equal(np.asarray(ours), theirs)
    assert np.array_equal(np.asarray(pixels), theirs) and pixels.info["dpi"] == (DPI, DPI)


def test_the_pool_makes_the_htmls_copy_of_each_plot(tmp_path):
    """A worker makes the page PNG's paletted copy as it saves it; the HTML takes that copy, which is
    the one it would make itself."""
    with figures_in_parallel(2):
        for k in range(2):
            with matplotlib.rc_context(PAGE.rc()):
                save_plot(page_figure(k), tmp_path, f"p{k}", PAGE)
    for k in range(2):
        path = tmp_path / "figures" / f"p{k}.png"
        made = embed.made_copy(embed.key(path, PLOT_COLOURS))
        assert made is not None and made == embed.embedded(path.read_bytes(), PLOT_COLOURS)
        assert data_uri(path, colours=PLOT_COLOURS) == PREFIX + base64.b64encode(made).decode()
    datauri.clear()
    assert embed.made_copy(embed.key(tmp_path / "figures" / "p0.png", PLOT_COLOURS)) is None


def test_a_prefetched_file_is_embedded_from_the_workers_copy(tmp_path):
    path = tmp_path / "grid.png"
    Image.fromarray((np.arange(64 * 48 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)).save(path)
    with figures_in_parallel(2):
        prefetch(path, PLOT_COLOURS, 32)
    made = embed.made_copy(embed.key(path, PLOT_COLOURS, 32))
    assert made == embed.embedded(path.read_bytes(), PLOT_COLOURS, 32)
    path.write_bytes(path.read_bytes())  # written again: a new file, encoded again
    os.utime(path, ns=(1, 1))
    assert embed.made_copy(embed.key(path, PLOT_COLOURS, 32)) is None
    datauri.clear()


def test_workers_are_forked_unless_another_thread_runs(monkeypatch):
    """A fork copies only the calling thread: with another thread, or after the engine ran here
    (torch's thread pools), the workers are spawned."""
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert start_method() == "fork"
    monkeypatch.setattr(threading, "active_count", lambda: 2)
    assert start_method() == "spawn"
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.setitem(sys.modules, "torch", object())
    assert start_method() == "spawn"
