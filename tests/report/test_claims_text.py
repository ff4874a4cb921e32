"""Page 1's robustness and replication sentences, from a recorded run with hand-set numbers: the
strongest attack leads, weaker attacks are called upper bounds only beyond their own interval, a rise
with eps is flagged, and a replication verdict reads the chance level (or says it is untested)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from fixtures.make_results import typed

from rnnviz.report.text import claims
from rnnviz.report.text.answer import brief

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded" / "default" / "results.json"


@pytest.fixture
def results() -> dict:
    r = json.loads(RECORDED.read_text())
    n = r["n_images"]
    strong = {"standard": [n, 0, 0, 0], "robust": [n - 3, 150, 120, 4]}
    r["strong_attack"] = {
        "settings": {
            "components": ["apgd-ce", "apgd-t"],
            "iterations": 25,
            "targets": 3,
            "version": "fast",
            "norm": "linf",
            "seed": 0,
        },
        "analysis": ["pgd", "fgsm"],
        "models": {
            m: {
                "n": n,
                "correct": c,
                "accuracy": [x / n for x in c],
                "interval": [[max(0.0, x / n - 0.03), min(1.0, x / n + 0.03)] for x in c],
                "flipped_by": {k: [0] * len(c) for k in ("analysis", "apgd-ce", "apgd-t", "smaller_eps")},
            }
            for m, c in strong.items()
        },
    }
    return r


def test_the_strongest_attack_leads_with_every_eps(results):
    sentence = claims.strongest_sentence(typed(results))
    assert sentence.startswith("Under the strongest attack measured (the worst case per image over APGD-CE, APGD-T")
    assert "the robust model keeps 75% (72–78%) at ε = 0.05, 60% (57–63%) at ε = 0.1 and 2% (0–5%) at ε = 0.2" in (
        sentence
    )
    assert brief(typed(results))[1] == sentence


def test_a_weaker_attack_is_an_upper_bound_only_beyond_its_interval(results):
    sentence = claims.overstated_sentence(typed(results))
    fgsm = results["attacks"]["accuracy"]["fgsm"]["robust"][3]
    assert fgsm["low"] > 0.02  # the recorded FGSM at 0.2 lies far above the hand-set 2%
    assert "FGSM for the standard model at ε = 0.05 (16% vs 0%)" in sentence
    assert "and the robust model at ε = 0.05 (95% vs 75%), 0.1 (92% vs 60%) and 0.2 (50% vs 2%)" in sentence
    assert "(0% vs 0%)" not in sentence  # equal numbers overstate nothing
    level = copy.deepcopy(results)
    for m, entry in level["strong_attack"]["models"].items():
        entry["accuracy"] = [level["attacks"]["accuracy"]["fgsm"][m][i]["low"] for i in range(4)]
    level["attacks"]["names"] = ["fgsm"]
    assert claims.overstated_sentence(typed(level)).startswith("No attack of the analysis overstates")


def test_a_rise_with_eps_is_flagged(results):
    r = copy.deepcopy(results)
    r["attacks"]["fgsm_curve"] = None  # no fine FGSM grid (--fgsm-grid 0)
    for a in r["attacks"]["names"]:
        for m in ("standard", "robust"):
            for i, entry in enumerate(r["attacks"]["accuracy"][a][m]):
                entry.update(accuracy=[0.9, 0.5, 0.4, 0.3][i], high=[0.9, 0.5, 0.4, 0.3][i] + 0.03)
    assert claims.masking_sentence(typed(r)) is None
    r["attacks"]["accuracy"]["pgd"]["robust"][3]["accuracy"] = 0.42  # inside 0.4's interval: no evidence
    assert claims.masking_sentence(typed(r)) is None
    r["attacks"]["accuracy"]["pgd"]["robust"][3]["accuracy"] = 0.45
    assert claims.masking_sentence(typed(r)) == (
        "Accuracy rises with ε, so the attack overshoots or gradients are masked: PGD for the robust model "
        "(ε 0.1 → 0.2: 40% → 45%)."
    )
    r["attacks"]["accuracy"]["pgd"]["robust"][2]["accuracy"] = 0.42  # neighbouring rises read as one run
    r["attacks"]["accuracy"]["pgd"]["robust"][1].update(accuracy=0.4, high=0.43)
    assert claims.masking_sentence(typed(r)).endswith(": PGD for the robust model (ε 0.05 → 0.2: 40% → 45%).")


def test_replication_untested_then_judged_against_chance(results):
    assert claims.replication_sentence(typed(results).replication, 2) == claims.UNTESTED + "."
    r = copy.deepcopy(results)
    models = {m: {"name": m} for m in ("standard", "robust")}
    first = {"models": models, "comparison": r["comparison"], "overlap": None}
    ratio = {"measure": "relative sigma", "ratio": 2.0, "ratio_ci": [1.8, 2.2]}
    carried = {"k": 3, "chance_jaccard": 0.02, "raw_jaccard": 0.0, "n_real": 3}
    second = {
        "models": models,
        "comparison": [None, ratio, ratio, ratio],
        "overlap": {
            "standard": [None] + [{**carried, "matched_jaccard": 0.5, "p_chance": 0.001}] * 3,
            "robust": [None] + [{**carried, "matched_jaccard": 0.0, "p_chance": 1.0}] * 3,
        },
    }
    r["replication"] = {"pairs": [first, second]}
    sentence = claims.replication_sentence(typed(r).replication, 2)
    assert "the standard model's top 3" in sentence and "by Jaccard 0.50 against 0.02" in sentence
    assert "p = 0.001): it replicates" in sentence
    assert "p = 1): it does not replicate beyond chance" in sentence
    own = r["comparison"][2]
    apart = own["ratio_ci"][0] > 2.2 or own["ratio_ci"][1] < 1.8
    assert ("its size does not" in sentence) == apart and "the direction replicates" in sentence
