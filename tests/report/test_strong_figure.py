"""Figure 1 with the strong evaluation: each model's strongest accuracy beside the analysis attacks,
and results.json's ``strong_attack`` through the schema (``--from`` validation)."""

from __future__ import annotations

import json

import pytest
from fixtures.make_results import SMALL, make_results

from rnnviz.common.errors import UsageError
from rnnviz.common.intervals import wilson
from rnnviz.common.names import MODELS
from rnnviz.report import load_results
from rnnviz.report.figures.plots import accuracy_plot, strongest_label
from rnnviz.report.sections.catalogue import _accuracy


def _with_strong(root, **change) -> dict:
    path = root / "results.json"
    results = json.loads(path.read_text())
    eps, n = results["config"]["eps"], results["n_images"]
    models = {}
    for m in MODELS:
        correct = [max(0, round(a * n) - 3 * i) for i, a in enumerate(results["accuracy"][m])]
        rest = [n - c for c in correct]
        models[m] = {
            "n": n,
            "correct": correct,
            "accuracy": [c / n for c in correct],
            "interval": [list(wilson(c, n)) for c in correct],
            "flipped_by": {"analysis": rest, **{k: [0] * len(eps) for k in ("apgd-ce", "apgd-t", "smaller_eps")}},
        }
    results["strong_attack"] = {
        "settings": {"components": ["apgd-ce", "apgd-t"], "iterations": 25, "targets": 3, "version": "fast",
                     "norm": "linf", "seed": 0},
        "analysis": ["pgd"],
        "models": models,
        "note": "",
        **change,
    }  # fmt: skip
    path.write_text(json.dumps(results))
    return results


def test_figure_one_draws_the_strongest_accuracy_and_names_it(tmp_path):
    root = make_results(tmp_path, renders=False, exemplars=False, **SMALL)
    plain = load_results(root)
    plain.strong_attack = None  # the recorded runs carry one: draw the figure once without it
    before = accuracy_plot(plain, root, "before")
    results = _with_strong(root)
    after = accuracy_plot(load_results(root), root, "after")
    assert strongest_label(load_results(root).strong_attack) == "strongest measured (APGD-CE/T + PGD)"
    labels = [t.get_text() for t in after.legends[0].get_texts()]
    assert "strongest measured (APGD-CE/T + PGD)" in labels
    linf_before, linf_after = before.axes[0], after.axes[0]
    assert len(linf_after.lines) == len(linf_before.lines) + len(MODELS)  # one bold line per model
    bold = [line for line in linf_after.lines if line.get_linestyle() == "-" and line.get_linewidth() > 2.5]
    for m, line in zip(MODELS, bold):
        assert list(line.get_ydata()) == results["strong_attack"]["models"][m]["accuracy"]


def test_strong_attack_goes_through_the_schema(tmp_path):
    root = make_results(tmp_path, renders=False, exemplars=False, **SMALL)
    _with_strong(root)
    load_results(root)
    _with_strong(root, settings={"version": "fastest"})
    with pytest.raises(UsageError, match="strong_attack.settings"):
        load_results(root)


def test_the_caption_reads_the_bold_line_as_the_strongest_and_each_attack_as_an_upper_bound(tmp_path):
    root = make_results(tmp_path, renders=False, exemplars=False, **SMALL)
    _with_strong(root)
    results = load_results(root)
    caption = _accuracy(results, root).caption
    assert "correctly under attack (each model" in caption and "after an ε-sized" not in caption
    assert "Each other line, one attack alone, is an upper bound on robust accuracy." in caption
    results.strong_attack = None  # an older folder: the analysis attack's line, called an upper bound
    caption = _accuracy(results, root).caption
    assert "after an ε-sized PGD attack" in caption and "PGD accuracy is an upper bound" in caption
    assert "Each other line" not in caption
