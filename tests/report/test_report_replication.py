"""The matching section's replication table and sentence (torch-free), from a hand-made entry."""

from __future__ import annotations

from rnnviz.report.sections import matching as section
from rnnviz.results.model.matching import Replication


def _pair(name: str, ratio: float, ci: list[float], overlap: dict | None) -> dict:
    return {
        "models": {
            m: {"name": f"{name}-{m}", "source": f"builtin:{name}-{m}", "sha256": "x"} for m in ("standard", "robust")
        },
        "comparison": [None, {"measure": "relative sigma", "ratio": ratio, "ratio_ci": ci}],
        "overlap": overlap,
    }


def _overlap(matched: float, raw: float, real: int) -> list:
    return [None, {"k": 5, "matched_jaccard": matched, "raw_jaccard": raw, "n_real": real}]


EPS, LABELS = [0.0, 0.1], ["0", "0.1"]
PAIRS = [
    _pair("a", 3.0, [2.5, 3.5], None),
    _pair("b", 2.5, [2.0, 2.75], {"standard": _overlap(0.25, 0.0, 3), "robust": _overlap(1 / 9, 0.0, 1)}),
]
REPLICATION = Replication.model_validate({"pairs": PAIRS})


def test_rows_give_the_ratio_per_pair_and_the_overlap_per_model():
    rows = section.replication(REPLICATION, EPS, LABELS)
    assert rows is not None and rows["eps_labels"] == ["0.1"]
    assert rows["ratio_rows"] == [
        {"pair": "a-standard / a-robust", "cells": ["3.00× [2.50, 3.50]"]},
        {"pair": "b-standard / b-robust", "cells": ["2.50× [2.00, 2.75]"]},
    ]
    assert [r["cells"] for r in rows["overlap_rows"]] == [["0.25 (raw 0.00; 3/5 real)"], ["0.11 (raw 0.00; 1/5 real)"]]
    assert section.replication(None, EPS, LABELS) is None


def test_the_sentence_names_each_pair_and_the_matched_overlap():
    (sentence,) = section.replication_summary(REPLICATION, 1, "0.1")
    assert sentence == (
        "Across 2 trainings of the pair (the same images), at ε = 0.1 the standard / robust ratio of relative σ is "
        "3.00× [2.50, 3.50] (a-standard / a-robust); 2.50× [2.00, 2.75] (b-standard / b-robust); carried by "
        "matching into b-standard / b-robust, the top-k overlaps its top-k by Jaccard 0.25 for the standard model "
        "(raw channel numbers: 0.00) and 0.11 for the robust model (raw channel numbers: 0.00)."
    )
    assert section.replication_summary(None, 1, "0.1") == []


def test_a_missing_overlap_shows_a_dash_not_an_error():
    broken = Replication.model_validate({"pairs": [PAIRS[0], _pair("c", 1.0, [1.0, 1.0], None)]})
    rows = section.replication(broken, EPS, LABELS)
    assert rows is not None and [r["cells"] for r in rows["overlap_rows"]] == [["–"], ["–"]]
