"""Figures saved in parallel worker processes: the report stage's time is matplotlib's savefig.

A profile of ``rnnviz-report --from`` on the demo put most of its time in ``savefig`` (constrained
layout, text extents, the PNG and SVG encoders), one figure after another although each is
independent. Inside ``figures_in_parallel`` each plot still builds its Figure in this process
(its text sizes stay measurable here), but the saving goes to a pool: the Figure is pickled with
the rcParams in force (the look's ``rc_context``, which savefig reads, e.g. ``svg.hashsalt``) and
saved by a worker, which writes the same bytes as this process would. A worker also makes the
copy of the PNG that the HTML embeds (``embed``) while the file is fresh, and ``prefetch`` gives
it other files to make that copy of. Leaving the block waits for every file and hands the copies
to ``embed``, so what comes after (the HTML's data URIs) finds them all.

Workers are forked where this process runs no other thread (``--from`` never imports torch): a
spawned worker first re-imports rnnviz and matplotlib, two seconds of a two-core
machine per worker, which on the demo was more than the figures it then saved. After the engine
ran in this process (torch's threads), they are spawned.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from PIL import Image

from rnnviz.common.errors import UsageError
from rnnviz.common.files import atomic_path
from rnnviz.report.figures import embed
from rnnviz.report.figures.pixels import write_png

MAX_WORKERS = 4  # past four, pickling in the parent and starting workers cost more than they save
WORKERS_ENV = "RNNVIZ_FIGURE_WORKERS"  # a count; 1 saves in this process (a test suite already fills the cores)
Target = tuple[Path, dict[str, Any]]  # a file and savefig's keyword arguments for it

_active: list[_Pool] = []


class _Pool:
    def __init__(self, workers: int):
        self.executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(start_method()))
        self.futures: list[Future] = []

    def submit(self, fig: Figure, targets: list[Target], colours: int | None) -> None:
        rc: Any = {k: v for k, v in matplotlib.rcParams.items() if not k.startswith("backend")}  # rc_context's key type
        self.futures.append(self.executor.submit(_save_pickled, pickle.dumps(fig), rc, targets, colours))

    def prefetch(self, path: Path, colours: int, width: int | None) -> None:
        self.futures.append(self.executor.submit(embed.make, path, colours, width))

    def drain(self) -> None:
        try:
            for future in self.futures:
                embed.remember(future.result())  # a worker's error is raised here, as it would be inline
        finally:
            self.executor.shutdown(cancel_futures=True)


def start_method() -> str:
    """``fork`` where this process runs no other thread (a fork copies only the calling thread: one
    holding a lock would leave it held in the worker), else ``spawn``. torch's pools are threads
    Python does not count, so a process that imported torch spawns."""
    forkable = "fork" in multiprocessing.get_all_start_methods()
    if forkable and threading.active_count() == 1 and "torch" not in sys.modules:
        return "fork"
    return "spawn"


@contextmanager
def figures_in_parallel(workers: int | None = None) -> Iterator[None]:
    """Inside, ``save`` hands figures to worker processes; on leaving, every file is written."""
    workers = workers or default_workers()
    if workers < 2:
        yield
        return
    pool = _Pool(workers)
    _active.append(pool)
    try:
        yield
    finally:
        _active.remove(pool)
        pool.drain()


def default_workers() -> int:
    """``$RNNVIZ_FIGURE_WORKERS``, else one per core up to ``MAX_WORKERS``."""
    forced = os.environ.get(WORKERS_ENV, "")
    if not forced:
        return min(MAX_WORKERS, os.cpu_count() or 1)
    if not forced.isdigit() or int(forced) < 1:
        raise UsageError(f"{WORKERS_ENV}={forced!r}: use a whole number of worker processes, 1 or more")
    return int(forced)


def save(fig: Figure, targets: list[Target], colours: int | None = None) -> None:
    """Write ``fig`` to every target: in a worker inside ``figures_in_parallel``, else here. With
    ``colours``, the worker also makes the first target's embedded copy (``embed``); here it is
    left to the HTML, which makes it when it asks for it."""
    if _active:
        _active[-1].submit(fig, targets, colours)
    else:
        save_all(fig, targets)


def prefetch(path: Path, colours: int, width: int | None = None) -> None:
    """Inside ``figures_in_parallel``, have a worker make ``path``'s embedded copy (``embed``) now;
    outside, nothing: the HTML makes it when it asks for it."""
    if _active:
        _active[-1].prefetch(path, colours, width)


def save_all(fig: Figure, targets: list[Target]) -> Image.Image | None:
    """Every target from one layout: the first save lays the figure out, the rest keep it. A PNG is
    drawn once (``pixels``); the first PNG's pixels are returned."""
    first = None
    for k, (path, options) in enumerate(targets):
        if options.get("format") == "png":
            drawn = write_png(fig, path, options)
            first = drawn if first is None else first
        else:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, **options)
        if k == 0 and fig.get_layout_engine() is not None:
            fig.set_layout_engine("none")
    return first


def _save_pickled(blob: bytes, rc: Any, targets: list[Target], colours: int | None) -> tuple | None:
    with matplotlib.rc_context(rc):
        drawn = save_all(pickle.loads(blob), targets)
    return embed.make(targets[0][0], colours, pixels=drawn) if colours else None
