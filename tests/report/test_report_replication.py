"""The matching section's replication table and sentence (torch-free), from a hand-made entry."""

from __future__ import annotations

from rnnviz.report.sections import matching as section


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


RESULTS: dict = {
    "config": {"eps": [0.0, 0.1], "eps_labels": ["0", "0.1"]},
    "sweet_spot": {"best_index": 1},
    "replication": {
        "pairs": [
            _pair("a", 3.0, [2.5, 3.5], None),
            _pair("b", 2.5, [2.0, 2.75], {"standard": _overlap(0.25, 0.0, 3), "robust": _overlap(1 / 9, 0.0, 1)}),
        ]
    },
}


def test_rows_give_the_ratio_per_pair_and_the_overlap_per_model():
    rows = section.replication(RESULTS)
    assert rows is not None and rows["eps_labels"] == ["0.1"]
    assert rows["ratio_rows"] == [
        {"pair": "a-standard / a-robust", "cells": ["3.00× [2.50, 3.50]"]},
        {"pair": "b-standard / b-robust", "cells": ["2.50× [2.00, 2.75]"]},
    ]
    assert [r["cells"] for r in rows["overlap_rows"]] == [["0.25 (raw 0.00; 3/5 real)"], ["0.11 (raw 0.00; 1/5 real)"]]
    assert section.replication({**RESULTS, "replication": None}) is None


def test_the_sentence_names_each_pair_and_the_matched_overlap():
    (sentence,) = section.replication_summary(RESULTS)
    assert sentence == (
        "Across 2 trainings of the pair (the same images), at ε = 0.1 the standard / robust ratio of relative σ is "
        "3.00× [2.50, 3.50] (a-standard / a-robust); 2.50× [2.00, 2.75] (b-standard / b-robust); carried by "
        "matching into b-standard / b-robust, the top-k overlaps its top-k by Jaccard 0.25 for the standard model "
        "(raw channel numbers: 0.00) and 0.11 for the robust model (raw channel numbers: 0.00)."
    )
    assert section.replication_summary({"config": RESULTS["config"]}) == []


def test_a_missing_overlap_shows_a_dash_not_an_error():
    broken = {
        **RESULTS,
        "replication": {"pairs": [RESULTS["replication"]["pairs"][0], _pair("c", 1.0, [1.0, 1.0], None)]},
    }
    rows = section.replication(broken)
    assert rows is not None and [r["cells"] for r in rows["overlap_rows"]] == [["–"], ["–"]]
