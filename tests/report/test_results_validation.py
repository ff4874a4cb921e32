"""results.json is untrusted input (issue 18): every finding reproduced through ``--from``.

Each test damages a recorded results folder the way the finding describes and checks the
answer: one stderr line naming the field, exit 2, nothing written outside the folder.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.make_results import SMALL, make_results

from rnnviz.cli import main
from rnnviz.common.errors import UsageError
from rnnviz.common.names import SCHEMA_VERSION
from rnnviz.report.pdf import write_pdf
from rnnviz.results.runfolder import INCOMPLETE_MARKER

REPO = Path(__file__).resolve().parents[2]


def damaged(tmp_path: Path, damage, **fixture) -> Path:
    root = make_results(tmp_path / "run", **fixture)
    results = json.loads((root / "results.json").read_text())
    damage(results)
    (root / "results.json").write_text(json.dumps(results))  # NaN is written as NaN, like a bug would
    return root


def from_dir(capsys, root: Path, *flags: str) -> tuple[int, str]:
    rc = main(["--from", str(root), "--no-pdf", "--quiet", *flags])
    return rc, capsys.readouterr().err.strip()


def assert_refused(capsys, root: Path, *patterns: str) -> str:
    rc, err = from_dir(capsys, root)
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for pattern in patterns:
        assert pattern in err, err
    assert not (root / "report.html").exists()
    return err


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(folder.rglob("*"))}


# ---------------------------------------------------------------- finding 1: writes outside


def test_a_recipe_cannot_steer_a_figure_outside_the_folder(tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "OVERWRITTEN.png").write_bytes(b"precious")
    evil = "x/../../../victim/OVERWRITTEN"

    def damage(r):
        for render in r["renders"]:
            if render["recipe"] == "raw":
                render["recipe"] = evil

    root = damaged(tmp_path, damage)
    before = tree(tmp_path / "victim")
    err = assert_refused(capsys, root, "recipe is 'x/../../../victim/OVERWRITTEN'", "expected one of lucid, raw")
    assert tree(tmp_path / "victim") == before, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "victim"]
    assert not list((root / "figures").glob("gallery_*_x*"))


def test_a_symlinked_figures_folder_is_refused(tmp_path, capsys):
    """Without images under figures/ (no examples, no renders) every figure would land elsewhere."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = make_results(tmp_path / "run", n_examples=False, renders=False, exemplars=False)
    for p in (root / "figures").rglob("*"):
        assert p.is_dir(), p
    shutil.rmtree(root / "figures")
    (root / "figures").symlink_to(elsewhere)
    rc, err = from_dir(capsys, root)
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "is a symlink" in err and "figures" in err, err
    assert list(elsewhere.iterdir()) == []


def test_an_image_behind_a_symlink_leaving_the_folder_is_refused(tmp_path, capsys):
    outside = tmp_path / "outside.png"
    root = make_results(tmp_path / "run")
    image = root / json.loads((root / "results.json").read_text())["examples"][0]["image"]
    outside.write_bytes(image.read_bytes())
    image.unlink()
    image.symlink_to(outside)
    assert_refused(capsys, root, "examples[0].image", "outside")


# ---------------------------------------------------------------- finding 3: hrefs


@pytest.mark.parametrize(
    "value, problem",
    [
        ("javascript:alert(document.domain)", "no scheme"),
        ("data:text/html,<script>alert(1)</script>", "no scheme"),
        ("/etc/passwd", "not an absolute one"),
        ("../outside.csv", "no '..'"),
        ("data\\accuracy.csv", "no scheme, backslash"),
        ("data", "not a regular file"),
        ("data/nope.csv", "missing"),
    ],
)
def test_data_files_are_plain_relative_paths_of_regular_files(tmp_path, capsys, value, problem):
    root = damaged(tmp_path, lambda r: r["data_files"].update(accuracy=value))
    assert_refused(capsys, root, "data_files.accuracy", problem)


# ---------------------------------------------------------------- finding 5: unfinished run


def test_an_unfinished_run_is_not_rerendered(tmp_path, capsys):
    root = make_results(tmp_path / "run")
    (root / INCOMPLETE_MARKER).write_text("0123\n")
    err = assert_refused(capsys, root, "is an unfinished run; resume it with its original command")
    assert (root / INCOMPLETE_MARKER).read_text() == "0123\n"
    assert not (root / "figures" / "accuracy_vs_eps.png").exists(), err


# ---------------------------------------------------------------- finding 6: FIFO


def test_a_fifo_in_data_files_is_refused_without_opening_it(tmp_path):
    """With the PDF on (attachments are read): in a subprocess, so a hang fails instead of blocking."""
    root = make_results(tmp_path / "run")
    os.mkfifo(root / "data" / "pipe.csv")
    results = json.loads((root / "results.json").read_text())
    results["data_files"]["accuracy"] = "data/pipe.csv"
    (root / "results.json").write_text(json.dumps(results))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "rnnviz.cli", "--from", str(root), "--quiet"],
            capture_output=True,
            text=True,
            timeout=90,
            cwd=REPO,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("--from blocked on the FIFO")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "data_files.accuracy names 'data/pipe.csv', which is not a regular file" in done.stderr
    assert not [p for p in root.rglob("*.part")]


# ---------------------------------------------------------------- finding 10: messages


@pytest.mark.parametrize(
    "damage, patterns",
    [
        (lambda r: r.pop("examples"), ["examples is missing"]),
        (
            lambda r: r["layer_sensitivity"]["standard"].__setitem__(1, []),
            ["layer_sensitivity.standard[1] is a list: expected an object"],
        ),
        (lambda r: r.update(sweet_spot=[]), ["sweet_spot is a list: expected an object"]),
        (lambda r: r["sweet_spot"].update(best_index=99), ["sweet_spot.best_index is 99 (int)", "[0, 3]"]),
        (
            lambda r: r.update(schema_version=str(SCHEMA_VERSION)),
            [f"schema_version '{SCHEMA_VERSION}' (str)", f"version {SCHEMA_VERSION} (int)"],
        ),
        (lambda r: r.update(schema_version=SCHEMA_VERSION + 1), [f"schema_version {SCHEMA_VERSION + 1}"]),
        (lambda r: r["accuracy"]["robust"].__setitem__(2, math.nan), ["accuracy.robust[2] is nan"]),
        (lambda r: r["timings"].update(attack_s=math.inf), ["timings.attack_s is inf"]),
        (lambda r: r["accuracy"]["robust"].__setitem__(2, 1.5), ["accuracy.robust[2] is 1.5", "[0, 1]"]),
        (lambda r: r["accuracy"]["robust"].pop(), ["accuracy.robust has 3 entries: expected 4"]),
        (lambda r: r["examples"][0]["by_eps"].pop(), ["examples[0].by_eps has 3 entries: expected 4"]),
        (lambda r: r["config"].update(attack=["cw"]), ["config.attack[0] is 'cw'", "fgsm, pgd"]),
        (lambda r: r["config"].update(attack="pgd"), ["config.attack is 'pgd' (str): expected a list"]),
        (lambda r: r["renders"][2].update(model="evil"), ["renders[2].model is 'evil'", "standard, robust"]),
        (lambda r: r["top_channels"]["robust"][1][0].update(channel="3"), ["top_channels.robust[1][0].channel"]),
        (lambda r: r["examples"][0].update(image="../outside.png"), ["examples[0].image", "no '..'"]),
        (lambda r: r["renders"][0].update(image="figures/renders/gone.png"), ["renders[0].image", "missing"]),
        (lambda r: r.update(created="yesterday"), ["created is 'yesterday'"]),
        # schema_version 2: ranking, comparison, bootstrap
        (lambda r: r.update(schema_version=1), ["schema_version 1 was written by rnnviz 0.1; re-run the analysis"]),
        (
            lambda r: r["config"].update(rank_by="mean"),
            ["config.rank_by is 'mean'", "relative-excess, excess, relative, sigma"],
        ),
        (
            lambda r: r["ranking"]["robust"][1]["top"][0].update(p_top=1.5),
            ["ranking.robust[1].top[0].p_top is 1.5", "[0, 1]"],
        ),
        (lambda r: r["ranking"]["standard"][2].update(expected_jaccard=-0.1), ["ranking.standard[2].expected_jaccard"]),
        (
            lambda r: r["ranking"]["standard"][2].update(jaccard_ci=[0.9, 0.5]),
            ["ranking.standard[2].jaccard_ci", "low <= high"],
        ),
        (lambda r: r["ranking"]["standard"][1].update(measure="mean"), ["ranking.standard[1].measure is 'mean'"]),
        (
            lambda r: r["ranking"]["robust"][1]["per_class"].update(cat={"top": [], "jaccard_to_pooled": 1}),
            ["ranking.robust[1].per_class.cat", "a class name from classes"],
        ),
        (
            lambda r: r["ranking"]["robust"][3]["convergence"][0].update(jaccard="1"),
            ["ranking.robust[3].convergence[0].jaccard"],
        ),
        (lambda r: r["ranking"]["robust"].pop(), ["ranking.robust has 3 entries: expected 4"]),
        (
            lambda r: r["ranking"]["robust"].__setitem__(0, r["ranking"]["robust"][1]),
            ["ranking.robust[0]", "null at eps = 0"],
        ),
        (lambda r: r["comparison"].__setitem__(2, None), ["comparison[2] is None", "an object at eps > 0"]),
        (lambda r: r["comparison"][1].update(ratio_ci=[1]), ["comparison[1].ratio_ci", "[low, high] or null"]),
        (lambda r: r["bootstrap"].update(level=95), ["bootstrap.level is 95"]),
    ],
)
def test_a_damaged_field_is_named_in_one_line(tmp_path, capsys, damage, patterns):
    root = damaged(tmp_path, damage)
    assert_refused(capsys, root, "rnnviz-report: error: ", *patterns)


def test_math_markup_in_names_and_labels_is_drawn_as_text(tmp_path, capsys):
    def damage(r):
        r["config"]["eps_labels"][1] = "$\\frac{$"
        r["config"]["eps_255"][1] = "$x$"
        r["models"]["robust"]["name"] = "$x$ robust $\\frac{$"
        r["classes"][0]["name"] = "$\\frac{$"
        for ex in r["examples"][:2]:
            ex["class"] = "$\\frac{$"
        r["accuracy_per_class"]["standard"]["$\\frac{$"] = r["accuracy_per_class"]["standard"].pop("sneaker")
        r["accuracy_per_class"]["robust"]["$\\frac{$"] = r["accuracy_per_class"]["robust"].pop("sneaker")
        for layers in r["layer_sensitivity"]["standard"][1:]:  # eps 0: none measured
            layers["$layer$"] = layers.pop("layer3.0")
        for entry in r["ranking"]["standard"][1:] + r["ranking"]["robust"][1:]:  # they reach the ranking figures too
            entry["per_class"]["$\\frac{$"] = entry["per_class"].pop("sneaker")
            entry["layers"]["$layer$"] = entry["layers"].pop("layer3.0")

    root = damaged(tmp_path, damage, **SMALL)
    rc, err = from_dir(capsys, root)
    assert (rc, err) == (0, "")
    assert (root / "figures" / "examples_frac.png").is_file()


def test_weasyprint_log_messages_stay_off_stderr(tmp_path, caplog):
    (tmp_path / "ok.csv").write_text("a\n")
    html = '<p>text <a rel="attachment" href="missing.csv">x</a> <a rel="attachment" href="ok.csv">y</a></p>'
    with caplog.at_level(logging.WARNING):
        messages = write_pdf(html, tmp_path / "out.pdf", tmp_path)
    assert (tmp_path / "out.pdf").read_bytes().startswith(b"%PDF")
    assert any("Failed to load attachment" in m for m in messages), messages
    assert [r.getMessage() for r in caplog.records if r.name.startswith("weasyprint")] == []


def test_the_robust_peaks_may_hold_the_standard_top_ks_partners_too(tmp_path):
    """channel_max_activation.robust names the robust top-k at every eps and the partners of the standard
    top-k: up to twice k per eps (a --top-k 2 run once failed its own check here), and no more."""
    from rnnviz.report.validate.budgets import check_counts

    root = make_results(tmp_path, renders=False, **SMALL)
    results = json.loads((root / "results.json").read_text())
    most = 2 * results["config"]["top_k"] * len(results["config"]["eps"])
    peaks = results["channel_max_activation"]["robust"]
    layer = results["config"]["layers"][-1]
    fill = (f"{layer}:{ch}" for ch in range(10_000) if f"{layer}:{ch}" not in peaks)
    while len(peaks) < most:
        peaks[next(fill)] = 1.0
    check_counts(results)
    peaks[next(fill)] = 1.0
    with pytest.raises(UsageError, match="channel_max_activation.robust has"):
        check_counts(results)
