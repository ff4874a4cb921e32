"""One home for the defaults: ``Config``'s fields, which the CLI's help and every preset's run read."""

import re

import pytest

from rnnviz.cli import build_parser
from rnnviz.report.validate.budgets import DEFAULT_EMBED_MB
from rnnviz.settings.config import Config, build_config
from rnnviz.settings.defaults import FIELDS, default_text
from rnnviz.settings.presets import PRESETS


def test_default_text_writes_values_as_flags_take_them():
    assert default_text("top_k") == str(Config().top_k)
    assert default_text("recipes") == ",".join(Config().recipes)
    assert default_text("patch_share") == "0.25"
    assert default_text("rank_by") == Config().rank_by
    assert default_text("classes") is None and default_text("train_eps") is None  # the preset's


def setting_flags():
    """(flag, dest) of every value flag that sets a ``Config`` field."""
    return [(a.option_strings[0], a.dest) for a in build_parser()._actions if a.dest in FIELDS and a.nargs != 0]


def test_every_cli_default_is_configs():
    """The help's "(default X)" is Config's, once, with no hand-written one beside it."""
    for action in build_parser()._actions:
        stated = re.findall(r"\(default:? ([^)]*)\)", action.help or "")
        if action.dest in FIELDS:
            assert action.default is None, f"{action.dest}: an unset flag must not override the preset or file"
        want = default_text(action.dest) if action.dest in FIELDS and action.nargs != 0 else None
        if want is not None:
            assert stated == [want], f"{action.option_strings[0]}: help says {stated}, Config says {want!r}"
        elif action.dest == "max_embed_mb":
            assert stated == [f"{DEFAULT_EMBED_MB:g}"]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_no_preset_moves_a_default_the_help_states(preset):
    """The help and the README state one default per flag: every preset's run must get it."""
    cfg = build_config({"preset": preset})
    for flag, dest in setting_flags():
        if (want := default_text(dest)) is not None and dest != "preset":
            got = getattr(cfg, dest)
            got = ",".join(map(str, got)) if isinstance(got, list) else f"{got:g}" if type(got) is float else str(got)
            assert got == want, f"--preset {preset} sets {flag} to {got}, the help says {want}"
