"""The ladder report: its numbers and figure are the pair folders' own results.json numbers, its trend
sentences claim only what the intervals allow, and ladder.json is read as untrusted data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rnnviz.common.errors import UsageError
from rnnviz.report.ladder import focus_index, render_ladder
from rnnviz.report.ladder.figures import draw_measures
from rnnviz.report.ladder.numbers import Estimate, rung_numbers
from rnnviz.report.ladder.trend import step, verdict
from rnnviz.results.ladder import LADDER_FILE, read_ladder, write_ladder
from rnnviz.results.model import Results
from rnnviz.results.model.ladder import LADDER_VERSION, Ladder, LadderRung

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded" / "default"


@pytest.fixture(scope="module")
def raw() -> dict:
    return json.loads((RECORDED / "results.json").read_text())


@pytest.fixture(scope="module")
def pair(raw) -> Results:
    return Results.model_validate(raw)


def E(value, low=None, high=None) -> Estimate:
    return Estimate(value, low, high)


def test_a_step_counts_only_where_the_intervals_part():
    assert step(E(0.1, 0.0, 0.2), E(0.5, 0.3, 0.7)) == "up"
    assert step(E(0.5, 0.3, 0.7), E(0.1, 0.0, 0.2)) == "down"
    assert step(E(0.1, 0.0, 0.35), E(0.5, 0.3, 0.7)) == "within"
    assert step(E(0.1), E(0.9)) == "within"  # no interval: nothing is claimed


def test_the_verdict_says_where_a_measure_moves_and_nothing_more():
    up, flat, down = E(0.5, 0.45, 0.55), E(0.5, 0.4, 0.6), E(0.1, 0.05, 0.15)
    low = E(0.1, 0.05, 0.15)
    assert verdict([("0", low), ("0.1", up), ("0.2", E(0.9, 0.85, 0.95))]) == "rises at every step of training ε"
    assert verdict([("0", up), ("0.1", flat)]) == "changes along the ladder by no more than its intervals"
    said = verdict([("0", low), ("0.1", up), ("0.2", flat), ("0.3", down)])
    assert said == (
        "is not monotone in training ε: it rises from training ε 0 to 0.1 and falls from training ε 0.2 to 0.3 "
        "beyond the intervals (from 0.1 to 0.2: within them)"
    )
    assert verdict([("0", low), ("0.1", up)]) == "rises from training ε 0 to 0.1 beyond the intervals"
    top = E(0.9, 0.85, 0.95)
    assert verdict([("0", low), ("0.05", up), ("0.1", top), ("0.2", top)]) == (
        "rises from training ε 0 to 0.1 beyond the intervals (from 0.1 to 0.2: within them)"
    )


def test_a_rung_reads_its_numbers_from_the_pair_results(raw, pair):
    robust, standard = rung_numbers(pair, "robust", 2), rung_numbers(pair, "standard", 2)
    strong = raw["strong_attack"]["models"]["robust"]
    assert [e.value for e in robust.accuracy] == strong["accuracy"]
    assert [[e.low, e.high] for e in robust.accuracy] == strong["interval"]
    for i, c in enumerate(raw["comparison"]):
        got = robust.sigma_ratio[i]
        assert (got is None) == (c is None) and standard.sigma_ratio[i] is None
        if c:
            assert (got.value, [got.low, got.high]) == (c["ratio"], c["ratio_ci"])
    for i, entry in enumerate(raw["ranking"]["robust"]):
        if entry:
            shares = [row["noise_ratio"] for row in entry["top"]]
            assert robust.noise_share[i] == E(sum(shares) / len(shares), min(shares), max(shares))
    cka = raw["matching"]["cka"]
    assert robust.cka == {layer: cka[j][j] for j, layer in enumerate(raw["matching"]["layers"])}
    assert standard.cka is None


def test_patching_quotes_the_k_nearest_top_k_with_its_interval_and_random_control(raw, pair):
    e, measure = raw["patching"]["standard"][1], raw["ranking"]["standard"][1]["measure"]
    ks = sorted({s["k"] for s in e["sets"] if s["kind"] == measure})
    k = min(ks, key=lambda k: (abs(k - raw["config"]["top_k"]), -k))
    top = next(s for s in e["sets"] if s["kind"] == measure and s["k"] == k)
    random = next(c for c in e["controls"] if c["kind"] == "random" and c["k"] == k)
    got = rung_numbers(pair, "standard", 1).undone[1]
    assert (got.k, got.undone.value, [got.undone.low, got.undone.high]) == (k, top["undone"], top["undone_ci"])
    assert (got.random.value, [got.random.low, got.random.high]) == (random["undone_mean"], random["undone_range"])


def test_the_ladder_figure_draws_the_pairs_numbers(raw, pair):
    rows = [rung_numbers(pair, "standard", 2), rung_numbers(pair, "robust", 2)]
    fig = draw_measures([0.0, 0.1], pair.config.eps, rows)
    ratio_panel, noise_panel = fig.axes[1], fig.axes[2]
    ratios = [c["ratio"] for c in raw["comparison"] if c]
    assert [list(bars.lines[0].get_ydata()) for bars in ratio_panel.containers] == [[r] for r in ratios]
    shares = [[row["noise_ratio"] for row in raw["ranking"][m][1]["top"]] for m in ("standard", "robust")]
    first = next(bars for bars in noise_panel.containers if bars.get_label() == "ε 0.05")
    assert list(first.lines[0].get_ydata()) == pytest.approx([sum(s) / len(s) for s in shares])


def test_the_focus_is_the_largest_eps_the_top_model_was_trained_for():
    assert focus_index([0, 0.05, 0.1, 0.2], 0.1) == 2
    assert focus_index([0, 0.05, 0.1, 0.2], 0.02) == 1


def _ladder(folder: Path) -> Ladder:
    rungs = [LadderRung(label="ref", spec="builtin:a", train_eps=0, published=None, folder=None)]
    rungs += [
        LadderRung(label=name, spec=f"builtin:{name}", train_eps=e, published=None, folder=f"pairs/{name}")
        for name, e in (("mid", 0.1), ("top", 0.2))
    ]
    for rung in rungs[1:]:
        shutil.copytree(RECORDED, folder / rung.folder)
    return Ladder(
        ladder_version=LADDER_VERSION, created="2026-12-07T10:00:00", preset="fashion", train_norm="linf", rungs=rungs
    )


def test_a_ladder_folder_renders_its_page_from_the_pairs(tmp_path):
    write_ladder(tmp_path, _ladder(tmp_path))
    files = render_ladder(tmp_path, pdf=False, progress=False, pair_reports=False)
    html = files.html.read_text()
    assert "Robustness ladder: 3 models trained at ε 0, 0.1, 0.2 (L∞)" in html
    assert "Accuracy under attack at ε = 0.1" in html and "pairs/top/report.html" in html
    assert html.count("data:image/png;base64,") >= 2


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["rungs"][1].update(folder="pairs/../../etc"), "rungs.1.folder"),
        (lambda d: d["rungs"][1].update(folder="/etc"), "rungs.1.folder"),
        (lambda d: d.update(ladder_version=99), "ladder_version"),
        (lambda d: d.update(rungs=d["rungs"][:2]), "rungs"),
        (lambda d: d.update(extra=1), "extra"),
    ],
)
def test_a_damaged_ladder_json_is_refused_in_one_line(tmp_path, change, message):
    document = _ladder(tmp_path).model_dump(mode="json")
    change(document)
    (tmp_path / LADDER_FILE).write_text(json.dumps(document))
    with pytest.raises(UsageError, match=message):
        read_ladder(tmp_path)


def test_an_oversized_ladder_json_is_refused_before_parsing(tmp_path):
    (tmp_path / LADDER_FILE).write_text(" " * (1 << 17))
    with pytest.raises(UsageError, match="ladder.json"):
        read_ladder(tmp_path)


def test_a_pair_folder_that_links_out_of_the_ladder_is_refused(tmp_path):
    ladder = _ladder(tmp_path)
    write_ladder(tmp_path, ladder)
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    shutil.move(tmp_path / "pairs" / "top", outside)
    (tmp_path / "pairs" / "top").symlink_to(outside)
    with pytest.raises(UsageError, match="pair folder pairs/top, which is not a folder inside"):
        render_ladder(tmp_path, pdf=False, progress=False, pair_reports=False)
