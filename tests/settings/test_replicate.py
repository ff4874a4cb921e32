"""--replicate and the fashion-seeds preset: pairs of specs, one clear line for a bad count, and a
default run whose results.json config has no replicate key."""

from __future__ import annotations

import pytest

from rnnviz.common.errors import UsageError
from rnnviz.settings.config import build_config
from rnnviz.settings.presets import PRESETS
from rnnviz.settings.replicas import MAX_REPLICAS, replicate_pairs

SEED1 = ["builtin:fashion-standard-seed1", "builtin:fashion-robust-seed1"]


def test_specs_are_read_as_standard_robust_pairs():
    assert replicate_pairs(None) == [] and replicate_pairs([]) == []
    assert replicate_pairs(["a", "b", "c", "d"]) == [("a", "b"), ("c", "d")]


@pytest.mark.parametrize("specs", [["a"], ["a", "b", "c"], ["s", "r"] * (MAX_REPLICAS + 1)])
def test_an_odd_or_too_long_list_is_one_usage_error(specs):
    with pytest.raises(UsageError, match="STANDARD,ROBUST"):
        replicate_pairs(specs)


def test_the_flag_and_the_preset_fill_the_config():
    cfg = build_config({"preset": "fashion", "replicate": ",".join(SEED1)})
    assert cfg.replicate == SEED1 and cfg.to_json()["replicate"] == SEED1
    seeds = build_config({"preset": "fashion-seeds"})
    assert seeds.replicate == SEED1 and (seeds.standard, seeds.robust) == (
        PRESETS["fashion"].standard,
        PRESETS["fashion"].robust,
    )
    with pytest.raises(UsageError, match="--replicate lists 1 model specs"):
        build_config({"preset": "fashion", "replicate": "builtin:fashion-standard-seed1"})


def test_a_default_run_keeps_its_config_without_a_replicate_key():
    cfg = build_config({"preset": "fashion"})
    assert cfg.replicate is None and "replicate" not in cfg.to_json()
