"""A ladder run is its pair runs: a three-model ladder gives, on the two models it shares with a pair
run of the same settings, the same numbers (every key of results.json but the run's own facts)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from rnnviz.pipeline.job import run
from rnnviz.pipeline.ladder import run_ladder
from rnnviz.pipeline.memo import ModelMemo
from rnnviz.report.ladder import render_ladder
from rnnviz.results.ladder import read_ladder
from rnnviz.settings.config import build_config

STD, ROB, SEED = "builtin:fashion-standard", "builtin:fashion-robust", "builtin:fashion-robust-seed1"
SMALL = {
    "preset": "fashion",
    "classes": "sneaker,bag",
    "eps": "0,0.1",
    "n_images": 6,
    "quality": "none",
    "attack": "fgsm",
    "patch": "1",
    "patch_draws": 2,
    "bootstrap": 20,
    "fgsm_grid": 0,
    "exemplars": 0,
}
RUN_FACTS = ("created", "timings", "environment")  # when and where it ran, not what it measured


def _measured(path) -> dict:
    results = json.loads(path.read_text())
    for key in RUN_FACTS:
        results.pop(key)
    results["config"].pop("out")
    return results


def _role(part: dict, role: str):
    return part["models"][role] if "models" in part else part[role]


def test_the_memo_measures_the_kept_model_once_and_hands_out_copies():
    memo, calls = ModelMemo(), []
    cfg = build_config(SMALL)
    models = {m: SimpleNamespace(sha256=m * 3) for m in ("standard", "robust")}

    def compute(missing):
        calls.append(sorted(missing))
        return {m: [m] for m in missing}

    first = memo.per_model("attack", cfg, range(0, 6), models, compute)
    again = memo.per_model("attack", cfg, range(0, 6), models, compute)
    assert calls == [["robust", "standard"], ["robust"]] and first == again
    again["standard"].append("changed")
    assert memo.per_model("attack", cfg, range(0, 6), models, compute)["standard"] == ["standard"]
    memo.per_model("attack", build_config({**SMALL, "seed": 1}), range(0, 6), models, compute)
    memo.per_model("patch", cfg, range(0, 6), models, compute)
    assert calls[-2:] == [["robust", "standard"], ["robust", "standard"]]


@pytest.mark.slow
def test_a_three_model_ladder_equals_the_pair_run_on_the_models_they_share(tmp_path):
    ladder = build_config(
        {**SMALL, "models": f"{SEED},{STD},{ROB}", "train_eps": "0.2,0,0.1", "out": str(tmp_path / "ladder")}
    )
    root = run_ladder(ladder, progress=False)
    run(build_config({**SMALL, "standard": STD, "robust": SEED, "train_eps": "0.2", "out": str(tmp_path / "pair")}))
    # the second pair reuses the reference's stages measured in the first (rnnviz.pipeline.memo)
    shared = _measured(root / "pairs" / "fashion-robust-seed1" / "results.json")
    assert shared == _measured(tmp_path / "pair" / "results.json")
    first = _measured(root / "pairs" / "fashion-robust" / "results.json")
    for key in ("accuracy", "layer_sensitivity", "patching", "strong_attack"):
        assert _role(first[key], "standard") == _role(shared[key], "standard"), key
    document = read_ladder(root)
    assert [(r.label, r.train_eps, r.folder) for r in document.rungs] == [
        ("fashion-standard", 0.0, None),
        ("fashion-robust", 0.1, "pairs/fashion-robust"),
        ("fashion-robust-seed1", 0.2, "pairs/fashion-robust-seed1"),
    ]
    files = render_ladder(root, pdf=False, progress=False)
    assert "Accuracy under attack at ε = 0.1" in files.html.read_text()
    assert (root / "pairs" / "fashion-robust-seed1" / "report.html").is_file()
