"""Several attacks in one run (issue 13), the report side: the section "Does the attack change the
answer?", the accuracy figure with every attack, the first page's context, and validation of the
``attacks`` and ``context`` keys. Everything runs on a recorded real results folder (HTML only)."""

from __future__ import annotations

import json
import math
import shutil
from html import unescape
from pathlib import Path

import pytest
from fixtures.make_results import SMALL, make_results, typed

from rnnviz.common.errors import UsageError
from rnnviz.common.intervals import accuracy_interval
from rnnviz.report import load_results, render_report
from rnnviz.report.figures.plots import accuracy_plot
from rnnviz.report.sections.attacks import front


@pytest.fixture(scope="module")
def rendered(rendered_fixture):
    root = rendered_fixture[0]
    return root, (root / "report.html").read_text(encoding="utf-8")


def section(html: str) -> str:
    return unescape(html[html.index('<section id="attacks"') : html.index('<section id="galleries-all"')])


def test_the_section_renders_with_its_figures_tables_and_warning(rendered):
    root, html = rendered
    part = section(html)
    assert "D. Does the attack change the answer?" in part and 'href="#attacks"' in html
    assert "3. How much to trust the ranking" in html and "4. Do the sensitive channels cause the errors?" in html
    assert part.count("<figure") == 2 and "Do different attacks pick the same sensitive channels?" in part
    for stem in ("attack_overlap", "attack_collapse", "accuracy_vs_eps"):
        assert (root / "figures" / f"{stem}.png").is_file()
    # the collapse warning: prominent in the section and in the first page's warnings
    warning = "robust model, FGSM, ε = 0.2: 100% of all predictions are 'bag'"
    assert warning in part and warning in unescape(html[: html.index('<nav class="toc">')])
    assert part.count('<tr class="collapsed">') == 4  # the recorded run's four collapses
    for name in ("attack_overlap", "attacks_accuracy", "transfer", "collapse"):
        assert f'href="data/{name}.csv"' in html, name


def test_transfer_table_quotes_the_fixture_s_intervals(rendered):
    results = json.loads((rendered[0] / "results.json").read_text())
    part = section(rendered[1])
    # robust-crafted PGD images evaluated by the standard model at eps 0.05: 192 of 200 correct
    seen = results["attacks"]["transfer"]["accuracy"]["robust"]["standard"][1]
    assert seen == accuracy_interval(192, 200)
    assert (
        "At ε = 0.05 the standard model classifies 96% (92–98%) of the robust model's PGD images correctly, "
        "against 0% (0–1.9%) of its own: its own gradient hurts it more than the other model's." in part
    )
    assert (
        '<td class="split">0.343</td><td>0.153</td>' in part
    )  # standard's mean sigma: own vs on the robust model's images


def test_overlap_sentence_counts_shared_channels_against_the_bootstrap_reference(rendered):
    part = " ".join(section(rendered[1]).split())
    results = json.loads((rendered[0] / "results.json").read_text())
    fgsm, pgd = (set(results["attacks"]["top"][a]["robust"][1]) for a in ("fgsm", "pgd"))
    assert len(fgsm & pgd) == 3 and len(fgsm) == 3
    assert (
        "model at ε = 0.05: PGD and FGSM share 3 of 3 top channels (Jaccard 1.00, Spearman 0.98 over all "
        "channels), as much as the 0.63 expected from resampling alone: within noise both attacks find the same "
        "channels." in part
    )
    assert (
        "share 0 of 3 top channels (Jaccard 0.00" in part
        and "(95% interval 0.20–1.00): the sensitive set depends" in part
    )


def test_two_attacks_differ_only_below_the_resampling_interval():
    """Hand-set: expected resampling Jaccard 0.6 with its 95% interval 0.3–1.0."""
    from rnnviz.report.sections.attacks import _overlap_verdict

    assert "depends on the attack" in _overlap_verdict(0.2, 0.6, [0.3, 1.0], noise=False)
    assert "cannot tell the two attacks' sets apart" in _overlap_verdict(0.3, 0.6, [0.3, 1.0], noise=False)
    assert "both attacks find the same channels" in _overlap_verdict(0.6, 0.6, [0.3, 1.0], noise=False)
    assert "noise alone already moves" in _overlap_verdict(0.8, 0.6, None, noise=True)
    assert "no resampling reference" in _overlap_verdict(0.8, None, None, noise=False)


def test_first_page_has_the_full_test_set_accuracy_and_the_training_eps(rendered):
    results = json.loads((rendered[0] / "results.json").read_text())
    page = front(typed(results))
    assert page["full"].startswith("standard 92.8%, robust 86.6% — model card")
    assert page["full"].endswith("these classes, clean: 98% vs 98%")
    assert page["beyond"] == ["ε = 0.2 is twice the robust model's training ε 0.1"]
    results["config"].update(eps=[0.0, 0.05, 0.15], eps_labels=["0", "0.05", "0.15"])
    assert front(typed(results))["beyond"] == ["ε = 0.15 is 1.5× the robust model's training ε 0.1"]
    html = rendered[1]  # the brief's section 1 carries the full test set; the method appendix the training eps
    accuracy = html[html.index('<section id="accuracy"') : html.index('<section id="sensitivity"')]
    assert "Full test set" in accuracy and "robust model trained at ε = 0.1 (L∞)" in html


def test_a_folder_of_the_previous_schema_is_refused_in_one_line(tmp_path):
    """Schema 4 let a folder leave out attacks, context and more; this version reads only schema 5."""
    root = make_results(tmp_path, renders=False, **SMALL)
    results = json.loads((root / "results.json").read_text())
    results["schema_version"] = 4
    for key in ("attacks", "context"):
        results.pop(key)
    (root / "results.json").write_text(json.dumps(results))
    with pytest.raises(UsageError, match=r"^results.json has schema_version 4 \(int\); this rnnviz renders version 5"):
        render_report(root, pdf=False, progress=False)
    assert not (root / "report.html").exists()


def test_an_l2_attack_gets_its_own_panel(tmp_path):
    root = make_results(tmp_path, renders=False, exemplars=False, **SMALL)
    render_report(root, pdf=False, progress=False)
    assert len(accuracy_plot(load_results(root), root, "accuracy_check").axes) == 2  # L∞ and L2 never share an axis
    html = (root / "report.html").read_text(encoding="utf-8")
    assert "PGD (L2)" in html and "primary: PGD" in html


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """One recorded folder; each damage case works on its own copy."""
    return make_results(tmp_path_factory.mktemp("pristine"))


def damaged(tmp_path, damage, pristine):
    root = Path(shutil.copytree(pristine, tmp_path / "run"))
    results = json.loads((root / "results.json").read_text())
    damage(results)
    (root / "results.json").write_text(json.dumps(results))  # NaN is written as NaN, like a bug would
    return root


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda r: r["attacks"]["overlap"]["robust"]["jaccard"][2].pop(),
            r"attacks\.overlap\.robust\.jaccard\[2\] has 8 entries: expected 9, a square matrix",
        ),
        (
            lambda r: r["attacks"]["accuracy"]["pgd"]["standard"][1].update(accuracy=math.nan),
            r"attacks\.accuracy\.pgd\.standard\[1\]\.accuracy is nan",
        ),
        (
            lambda r: r["attacks"]["sigma_mean"]["fgsm"]["robust"].pop(),
            r"attacks\.sigma_mean\.fgsm\.robust has 3 entries: expected 4, one per config\.eps",
        ),
        (
            lambda r: r["attacks"]["overlap"]["standard"]["conditions"][0].update(attack="../x"),
            r"overlap\.standard\.conditions\[0\]\.attack is '\.\./x' \(str\): "
            r"expected one of fgsm, pgd, pgd-l2, apgd, apgd-t, noise",
        ),
        (lambda r: r["attacks"].update(names=["fgsm", "cw"]), r"attacks\.names\[1\] is 'cw'"),
        (lambda r: r["config"].update(attack=[]), r"config\.attack has 0 entries: expected at least 1"),
        (
            lambda r: r["attacks"]["transfer"]["accuracy"]["robust"]["standard"][0].update(low=0.999),
            r"attacks\.transfer\.accuracy\.robust\.standard\[0\] has low 0\.999 > high",
        ),
        (
            lambda r: r["attacks"]["collapse"]["fgsm"]["robust"][3]["confusion"]["counts"][0].append(1),
            r"collapse\.fgsm\.robust\[3\]\.confusion\.counts\[0\] has 4 entries, more than the 3 config\.classes",
        ),
        (lambda r: r["context"]["full_test_accuracy"].update(robust=186.6), r"context\.full_test_accuracy\.robust"),
        (lambda r: r["context"]["train_eps"].update(norm="l1"), r"context\.train_eps\.norm is 'l1'"),
    ],
)
def test_broken_attacks_entries_are_one_clear_line(tmp_path, damage, message, pristine):
    root = damaged(tmp_path, damage, pristine)
    with pytest.raises(UsageError, match=message) as err:
        render_report(root, pdf=False, progress=False)
    assert len(str(err.value).splitlines()) == 1
    assert not (root / "report.html").exists()


def test_the_fixture_s_intervals_are_the_engine_s_wilson_intervals():
    """Hand-computed: 24 of 200 correct, z = 1.96 -> [0.0820, 0.1723] (the fixture has no Wilson of its own)."""
    r = accuracy_interval(24, 200)
    assert r["low"] == pytest.approx(0.0820, abs=5e-5) and r["high"] == pytest.approx(0.1723, abs=5e-5)
    assert r["accuracy"] == 0.12
