"""The matching section's CKA baselines (table rows, sentences, figure) and the matched-pairs gallery,
from a recorded run of the built-in pair (its matching entry as the engine wrote it) and a hand-made
baselines entry."""

from __future__ import annotations

import json
import re

from fixtures.make_results import SMALL, make_results, typed
from fixtures.record import RECORDED
from PIL import Image

from rnnviz.measures.matching import PAIRS, partner_channels
from rnnviz.report import render_report
from rnnviz.report.figures import matching as plots
from rnnviz.report.figures.channel_grids import MATCHED, matched_gallery, matched_pairs
from rnnviz.report.sections import matching as section
from rnnviz.results.model.matching import CkaBaselines


def _values(pair, rs, rr, ss, sr) -> dict:
    return dict(zip(PAIRS, (pair, rs, rr, ss, sr)))


BASELINES = {
    "pairs": PAIRS,
    "random": "random copy",
    "random_seed": 0,
    "class_removed": "class means removed",
    "layers": [
        {
            "layer": "relu",
            "cka": _values(0.93, 0.89, 0.95, 0.99, 0.99),
            "class_removed": _values(0.9, 0.8, 0.8, 0.95, 0.96),
        },
        {
            "layer": "layer4.0",
            "cka": _values(0.96, 0.22, 0.31, 0.92, 0.97),
            "class_removed": _values(0.61, 0.2, 0.25, None, None),
        },
    ],
}


def results_with(baselines: dict | None, recording: str = "small") -> dict:
    results = json.loads((RECORDED / recording / "results.json").read_text(encoding="utf-8"))
    if baselines is not None:
        results["matching"]["baselines"] = baselines
    return results


def test_sentences_say_more_or_less_similar_than_the_baseline_with_the_numbers():
    one_class = section.baseline_summary(typed(results_with(BASELINES)))
    assert len(one_class) == 2 and "class means" not in " ".join(one_class)  # identical with one class
    sentences = section.baseline_summary(typed(results_with(BASELINES, "default")))
    assert sentences == [
        "Standard–robust linear CKA, against each model's CKA with a randomly initialised copy of its architecture "
        "(numbers: the pair vs the standard / the robust model's baseline): between the two models' baselines at "
        "relu (0.93 vs 0.89 / 0.95); more similar than the baseline at layer4.0 (0.96 vs 0.22 / 0.31).",
        "Standard–robust linear CKA, against each model's CKA with itself retrained from a second seed (numbers: "
        "the pair vs the standard / the robust model's baseline): less similar than the baseline at relu "
        "(0.93 vs 0.99 / 0.99); between the two models' baselines at layer4.0 (0.96 vs 0.92 / 0.97).",
        "Standard–robust linear CKA with class means removed, against each model's CKA with a randomly initialised "
        "copy of its architecture (numbers: the pair vs the standard / the robust model's baseline): more similar "
        "than the baseline at relu (0.90 vs 0.80 / 0.80), layer4.0 (0.61 vs 0.20 / 0.25).",
        "Standard–robust linear CKA with class means removed, against each model's CKA with itself retrained from "
        "a second seed (numbers: the pair vs the standard / the robust model's baseline): less similar than the "
        "baseline at relu (0.90 vs 0.95 / 0.96).",
    ]
    for s in sentences:  # never "similar" alone: always against a baseline
        assert all(m.group(1) in ("than", "as") for m in re.finditer(r"similar (\w+)", s)), s


def test_table_rows_put_each_baseline_beside_the_pair():
    rows = section.baseline_rows(typed(results_with(BASELINES)).matching)
    assert rows[0] == {"layer": "relu", "how": "as measured", "cells": ["0.93", "0.89", "0.95", "0.99", "0.99"]}
    assert rows[3] == {"layer": "", "how": "class means removed", "cells": ["0.61", "0.20", "0.25", "–", "–"]}
    bare = results_with(None)
    bare["matching"].pop("baselines", None)  # a folder from before the baselines
    assert section.baseline_rows(typed(bare).matching) == [] and section.baseline_summary(typed(bare)) == []


def test_baselines_plot_is_written(tmp_path):
    fig = plots.baselines_plot(CkaBaselines.model_validate(BASELINES), tmp_path, "matching_baselines")
    assert (tmp_path / "figures" / "matching_baselines.png").is_file()
    drawn = {line.get_label() for ax in fig.axes for line in ax.get_lines()}
    assert "standard vs its second seed" in drawn and "standard vs robust" in drawn


def test_matched_pairs_are_partners_in_the_matching():
    raw = results_with(None)
    results = typed(raw)
    match = results.matching
    e = next(i for i, rows in enumerate(match.top["standard"]) if rows)
    pairs = matched_pairs(results.matching, e)
    assert [x.channel for x, _ in pairs] == [r.channel for r in results.top_channels.standard[e]]
    for x, partner in pairs:
        assert partner is not None and partner.layer == x.layer
        assert partner.channel == match.per_layer[x.layer].partner[x.channel]
    robust = {(r.layer, r.channel) for r in results.renders if r.model == "robust"}  # partners rendered
    assert {(p.layer, p.channel) for _, p in pairs if p} <= robust
    assert set(partner_channels(raw["matching"])) <= robust


def test_matched_gallery_and_the_baselines_in_the_rendered_report(tmp_path):
    make_results(tmp_path, **SMALL)
    path = tmp_path / "results.json"
    results = json.loads(path.read_text(encoding="utf-8"))
    results["matching"]["baselines"] = BASELINES
    path.write_text(json.dumps(results), encoding="utf-8")
    render_report(tmp_path, pdf=False, progress=False)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="cka-baselines"' in html and "more similar than the baseline at layer4.0 (0.96 vs 0.22 / 0.31)" in html
    assert "class means removed" in html  # the table keeps its rows with one class
    assert "The standard–robust CKA beside what any two networks give" in html and "Matched pairs at ε" in html
    with Image.open(tmp_path / "figures" / f"{MATCHED}.png") as img:
        assert img.height > img.width  # one row per pair: k rows of two tiles


def test_no_matched_gallery_without_a_matching(tmp_path):
    results = typed(results_with(None))
    results.matching = None
    assert matched_gallery(results, tmp_path, None, 1, "lucid") is None
