"""What the command line prints: one line per error, warning and log record, never a traceback.

Torch-free: the CLI sets this up before anything heavy is imported.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

from rnnviz.common.signals import close_bars


def one_line_logging(debug: bool, quiet: bool) -> None:
    """Log records as ``rnnviz-report: level: message`` lines; --debug shows INFO, --quiet errors only."""
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLineFormat())
    level = logging.INFO if debug else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, handlers=[handler], force=True)


class _OneLineFormat(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"rnnviz-report: {record.levelname.lower()}: {' '.join(record.getMessage().split())}"


def error_line(message: str, prefix: str = "") -> None:
    close_bars()
    print(f"{prefix}rnnviz-report: error: {message}", file=sys.stderr)


def reopen_closed_streams() -> None:
    """``2>&-`` leaves sys.stderr None (or a closed file): write to /dev/null instead of crashing."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or getattr(stream, "closed", False):
            setattr(sys, name, open(os.devnull, "w"))


def one_line_warnings(quiet: bool) -> None:
    """Each warning as one ``rnnviz-report: warning:`` line (no source line); none under --quiet."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    if quiet:
        warnings.simplefilter("ignore")

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"rnnviz-report: warning: {text}", file=file or sys.stderr)

    warnings.showwarning = show


def fault_line(err: Exception) -> str:
    """The one line for an error no check caught (a bug or the environment); running out of memory
    (Python's ``MemoryError`` or torch's CPU allocator) says what lowers the need instead."""
    if isinstance(err, MemoryError) or "can't allocate memory" in str(err):
        return "out of memory; lower --batch-size or --workers, or analyse fewer --layers or --n-images"
    first = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {first} (rerun with --debug for the traceback)"
