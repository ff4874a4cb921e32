"""SIGTERM as an interrupt, and errors that start on a fresh line.

``kill PID`` (a scheduler's time limit, ``docker stop``, torchrun stopping its workers) sends
SIGTERM, whose default action ends the process at once: no message, the folder's lock file left.
Raised as ``Terminated`` (a ``KeyboardInterrupt``) it unwinds like Ctrl-C: every ``finally`` and
context manager runs, the lock is released, finished stages are kept for a resume.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwind like Ctrl-C, exit 143 (128 + 15)."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextmanager
def terminated_as_interrupt() -> Iterator[None]:
    """Within: SIGTERM raises ``Terminated`` in the main thread (elsewhere signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def close_bars() -> None:
    """Close every open tqdm progress bar, so the next line printed starts at column 0 (a bar
    leaves its cursor at the end of its own line)."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is None:
        return
    for bar in list(getattr(tqdm.tqdm, "_instances", ())):
        try:
            bar.close()
        except Exception:  # noqa: BLE001 - a bar that cannot close must not hide the error
            pass
