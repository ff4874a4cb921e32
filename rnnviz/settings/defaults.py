"""Config's defaults as the command line writes them: the one source of every flag's "(default ...)"
in ``rnnviz-report --help`` and of the README's flag table, so neither can drift from the settings."""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields

from rnnviz.settings.config import Config

FIELDS = {f.name: f for f in fields(Config)}


def default_text(name: str) -> str | None:
    """A setting's default as its flag is written (``["lucid", "raw"]`` -> ``lucid,raw``), or None where
    the setting has no value of its own (it comes from the preset, the model or the data)."""
    f = FIELDS[name]
    value = f.default_factory() if f.default_factory is not MISSING else f.default
    if value is None or value == []:
        return None
    if isinstance(value, list):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def with_defaults(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Each value flag of a setting gets " (default X)" after its help, X from ``Config``. On/off flags
    (--no-pdf, --slides) and settings without a default of their own keep their help as written."""
    for action in parser._actions:
        text = default_text(action.dest) if action.dest in FIELDS and action.nargs != 0 else None
        if text is not None and action.help:
            action.help += f" (default {text})"
    return parser
