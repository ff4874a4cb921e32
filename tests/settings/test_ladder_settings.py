"""--models and a preset's ladder: the models in training-eps order, each eps from --train-eps or the
preset, a pair when two are given, and one clear line for each bad ladder."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnviz.common.errors import UsageError
from rnnviz.settings.config import build_config
from rnnviz.settings.ladder import ladder_models, pair_settings, spec_label

STD, ROB, SEED = "builtin:fashion-standard", "builtin:fashion-robust", "builtin:fashion-robust-seed1"


def test_labels_are_the_specs_file_names():
    assert spec_label("builtin:fashion-robust-eps0.05") == "fashion-robust-eps0.05"
    assert spec_label("https://host/x/resnet50_l2_eps0.03.ckpt") == "resnet50_l2_eps0.03"
    assert spec_label("/models/my net.pt") == "my-net"


def test_models_are_sorted_by_training_eps_whatever_the_order_given():
    cfg = build_config({"preset": "fashion", "models": f"{SEED},{STD},{ROB}", "train_eps": "0.2,0,0.1"})
    assert [(m.spec, m.train_eps) for m in cfg.ladder] == [(STD, 0.0), (ROB, 0.1), (SEED, 0.2)]
    assert cfg.to_json()["models"] == [SEED, STD, ROB]


def test_two_models_are_the_pair_and_a_pair_keeps_its_config_keys():
    cfg = build_config({"preset": "fashion", "models": f"{STD},{SEED}", "train_eps": "0,0.2"})
    assert (cfg.standard, cfg.robust, cfg.train_eps, cfg.models) == (STD, SEED, 0.2, None)
    assert "models" not in cfg.to_json() and "models_train_eps" not in cfg.to_json()
    assert build_config({"preset": "fashion", "train_eps": "0.1"}).train_eps == 0.1


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"models": f"{STD},{ROB},{SEED}"}, "training eps of --models entry builtin:fashion-standard is unknown"),
        ({"models": f"{STD},{ROB},{SEED}", "train_eps": "0,0.1"}, "gives 2 values for 3 --models"),
        ({"models": f"{STD},{ROB},{ROB}", "train_eps": "0,0.1,0.2"}, "the same model twice"),
        ({"models": f"{STD},{ROB},{SEED}", "train_eps": "0,0.1,0.1"}, "share training eps 0.1"),
        ({"models": f"{STD},{ROB},{SEED}", "train_eps": "0,0.1,x"}, "not a number"),
        ({"models": f"{STD},{ROB},{SEED}", "train_eps": "0,0.1,200"}, "from 0 to 100"),
        ({"models": f"{STD},{ROB},{SEED}", "train_eps": "0,0.1,0.2", "robust": ROB}, "give one or the other"),
        ({"train_eps": "0.1,0.2"}, "gives 2 values for a pair"),
    ],
)
def test_a_bad_ladder_is_one_usage_error(settings, message):
    with pytest.raises(UsageError, match=message):
        build_config({"preset": "fashion", **settings})


def test_a_single_model_is_not_a_ladder():
    with pytest.raises(UsageError, match="give 2 to"):
        ladder_models([STD], [0.0], "fashion")


def test_each_pair_runs_the_whole_settings_with_its_two_models_in_its_own_folder():
    cfg = build_config(
        {"preset": "fashion", "models": f"{STD},{ROB},{SEED}", "train_eps": "0,0.1,0.2", "n_images": 7, "seed": 3}
    )
    reference, _, top = cfg.ladder
    pair = pair_settings(cfg, reference, top, Path("/tmp/ladder"))
    assert (pair.standard, pair.robust, pair.train_eps, pair.models) == (STD, SEED, 0.2, None)
    assert pair.out == "/tmp/ladder/pairs/fashion-robust-seed1"
    assert (pair.n_images, pair.seed, pair.eps, pair.classes) == (7, 3, cfg.eps, cfg.classes)
