"""The strong evaluation: shards merge exactly, it never beats an analysis attack, eps 0 is clean."""

import numpy as np
import pytest
import torch
from helpers import sweep

from rnnviz.common.intervals import wilson
from rnnviz.measures import strong
from rnnviz.pipeline.shards import merge_strong
from rnnviz.settings.config import Config
from rnnviz.sweep.apgd import APGDSettings
from rnnviz.sweep.loop import analyze_attacks
from rnnviz.sweep.passes import Batching

EPS = [0.0, 0.05, 0.2]


@pytest.fixture(scope="module")
def fashion():
    from rnnviz.data.builtin import load_builtin_sample
    from rnnviz.models.loading import load_model

    data = load_builtin_sample([7, 8, 9], 4, 0)
    return load_model("builtin:fashion-robust").module, data.images, data.labels


@pytest.fixture(scope="module")
def analysed(fashion):
    model, x, y = fashion
    by_attack = analyze_attacks(model, x, y, sweep(EPS, ["layer1.0"]), ("fgsm", "pgd"))
    plan = strong.plan("fast", 0, EPS, ["fgsm", "pgd"])
    assert plan is not None
    plan = strong.StrongPlan(plan.version, APGDSettings(iterations=8, targets=2), 0, plan.eps, plan.analysis)
    right = strong.analysis_correct({"robust": by_attack}, plan.analysis)["robust"]
    return by_attack, plan, right


def _evaluate(fashion, right, plan, rows: slice):
    model, x, y = fashion
    start = rows.start or 0
    return strong.evaluate(model, x[rows], y[rows], right[:, rows], plan, Batching(5, "cpu", start))


def test_two_shards_merge_to_one_pass(fashion, analysed):
    _, plan, right = analysed
    whole = _evaluate(fashion, right, plan, slice(0, None))
    halves = [_evaluate(fashion, right, plan, slice(0, 7)), _evaluate(fashion, right, plan, slice(7, None))]
    merged = merge_strong([{"robust": h} for h in halves])["robust"]
    assert merged.n == whole.n == 12
    assert merged.correct.tolist() == whole.correct.tolist()
    for cause in strong.CAUSES:
        assert merged.flipped[cause].tolist() == whole.flipped[cause].tolist()
    assert merge_strong([{"robust": whole}])["robust"].correct.tolist() == whole.correct.tolist()


def test_strongest_is_at_most_every_analysis_attack_and_clean_at_eps_zero(fashion, analysed):
    model, x, y = fashion
    by_attack, plan, right = analysed
    counts = _evaluate(fashion, right, plan, slice(0, None))
    accuracy = counts.correct / counts.n
    with torch.no_grad():
        clean = float((model(x).argmax(1) == y).float().mean())
    assert accuracy[0] == clean == by_attack["fgsm"].accuracy[0]
    for a in ("fgsm", "pgd"):
        assert (accuracy <= np.array(by_attack[a].accuracy) + 1e-12).all()
    assert (np.diff(accuracy) <= 0).all()  # nested balls: never rises with eps
    total = counts.correct + sum(counts.flipped[c] for c in strong.CAUSES)
    assert (total == counts.n).all()
    assert counts.flipped["smaller_eps"][0] == 0 and counts.flipped["apgd-ce"][0] == 0
    # direct recount: an image right at eps e is right under every analysis attack at e and every smaller eps
    alive = np.logical_and.accumulate(right, axis=0)
    assert (counts.correct <= alive.sum(1)).all()


def test_results_entry_and_table(fashion, analysed):
    from rnnviz.results.attack_tables import strong_table

    _, plan, right = analysed
    counts = {"robust": _evaluate(fashion, right, plan, slice(0, None))}
    entry = strong.strong_results(plan, counts)
    assert entry is not None
    assert entry["settings"] == {
        "components": ["apgd-ce", "apgd-t"],
        "iterations": 8,
        "targets": 2,
        "restarts": 1,
        "version": "fast",
        "norm": "linf",
        "seed": 0,
    }
    m = entry["models"]["robust"]
    assert m["accuracy"] == [c / 12 for c in m["correct"]]
    assert m["interval"] == [list(wilson(c, 12)) for c in m["correct"]]
    rows = strong_table({"config": {"eps": EPS}, "strong_attack": entry})["strong_attack"][1]
    assert rows[1] == ["robust", 0.05, m["correct"][1], 12, m["accuracy"][1], *m["interval"][1]]
    assert strong.strong_results(None, None) is None


def test_plan_off_l2_and_config():
    assert strong.plan("off", 0, EPS, ["fgsm"]) is None
    l2 = strong.plan("standard", 0, [0.0, 1.0], ["pgd-l2"])
    assert l2 is not None and l2.settings == APGDSettings(100, 9) and "L2" in strong.skipped(l2)
    entry = strong.strong_results(l2, None)
    assert entry is not None and entry["models"] == {} and entry["note"]
    assert Config().strong_attack == "fast"
