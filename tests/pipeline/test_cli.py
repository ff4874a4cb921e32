"""The command line, in-process: the whole pipeline once at tiny settings, and bad input."""

import csv
import json
import re
import shutil
import subprocess
import time

import pytest
import torch
import torchvision
from fixtures.engine_run import TINY
from fixtures.outline import SECTIONS
from fixtures.page_fill import needs_poppler
from helpers import undeclared_keys

from rnnviz.cli import EXIT_USAGE, main
from rnnviz.common.errors import UsageError
from rnnviz.common.names import SCHEMA_VERSION
from rnnviz.report.validate.results import validate

pytestmark = pytest.mark.usefixtures("offline")


def one_line_error(capsys, argv, *patterns):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for pattern in patterns:
        assert re.search(pattern, err), err
    return err


@pytest.fixture
def report_dir(tiny_run):
    """The session's one tiny end-to-end run (tests/conftest.py), shared by the report checks below."""
    return tiny_run


def test_end_to_end_writes_every_output(report_dir):
    for name in ("report.html", "report.pdf", "results.json", "data/accuracy.csv", "data/top_channels.csv"):
        assert (report_dir / name).is_file(), name
    r = json.loads((report_dir / "results.json").read_text())
    assert r["schema_version"] == SCHEMA_VERSION and r["config"]["eps"] == [0.0, 0.1]
    assert {m["arch"] for m in r["models"].values()} == {"fashion_resnet"}
    unique = {m: {(c["layer"], c["channel"]) for per in r["top_channels"][m] for c in per} for m in r["models"]}
    pairs = r["matching"]["top"]["standard"]  # the robust partners of the standard top-k are rendered too
    unique["robust"] |= {
        (p["layer"], p["partner"]) for per in pairs if per for p in per if p.get("partner") is not None
    }
    rendered = {(e["model"], e["layer"], e["channel"]) for e in r["renders"]}
    assert rendered == {(m, layer, ch) for m, u in unique.items() for layer, ch in u}
    assert all(len([e for e in r["renders"] if (e["model"], e["layer"], e["channel"]) == c]) <= 3 for c in rendered)
    assert {e["recipe"] for e in r["renders"]} == {"lucid", "raw", "accent"}
    assert sorted(r["attacks"]["names"]) == ["fgsm", "pgd"] and r["exemplars"]["n"] == 2
    # the chosen primary leads everywhere, also when it was not listed first (--attack fgsm,pgd)
    assert r["attacks"]["names"] == r["config"]["attack"] and r["attacks"]["primary"] == r["primary_attack"]["name"]
    assert r["accuracy"]["standard"][0] >= r["accuracy"]["standard"][1]
    # eps = 0: sigma is 0 by construction, so no ranking, no top-k row, no sigma row, no render
    for m in r["models"]:
        assert r["top_channels"][m][0] == [] and r["ranking"][m][0] is None and r["layer_sensitivity"][m][0] == {}
        assert r["ranking"][m][1]["top"] and r["patching"][m][0] is None and r["patching"][m][1]["sets"]
    assert {float(row["eps"]) for row in csv.DictReader(open(report_dir / "data" / "channel_sensitivity.csv"))} == {0.1}
    assert {float(row["eps"]) for row in csv.DictReader(open(report_dir / "data" / "top_channels.csv"))} == {0.1}


def test_the_engine_output_matches_its_schema(report_dir):
    """rnnviz/results/schema.json is the definition the writer is held to: every key declared."""
    results = json.loads((report_dir / "results.json").read_text())
    validate(results, report_dir)
    assert undeclared_keys(results) == []


def test_neuron_level_sensitivity_on_request(report_dir):
    r = json.loads((report_dir / "results.json").read_text())
    grids = [per["layer4.0:3"] for per in r["neuron_sensitivity"]["standard"]]
    assert len(grids) == 2 and len(grids[1]) == 4 and len(grids[1][0]) == 4  # 28 px / stride 8
    assert all(v == 0 for row in grids[0] for v in row) and any(v > 0 for row in grids[1] for v in row)
    rows = list(csv.DictReader(open(report_dir / "data" / "neuron_sensitivity.csv")))
    assert len(rows) == 2 * 2 * 16


def test_html_is_self_contained_and_embeds_figures(report_dir):
    html = (report_dir / "report.html").read_text()
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", html)
    assert html.count("data:image/png;base64,") >= 5


@needs_poppler
def test_pdf_has_sections_in_order_and_no_empty_page(report_dir):
    pdf = report_dir / "report.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    headings = SECTIONS  # the report's section titles, in order (one list, in test_report)
    # a heading is a line of its own (the contents and the brief's pointers name sections mid-line)
    lines = [[m.start() for m in re.finditer(rf"^\s*{re.escape(h)}\s*$", text, re.M)] for h in headings]
    positions = [hits[-1] if hits else -1 for hits in lines]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), positions
    pages = int(
        re.search(
            r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
        ).group(1)
    )
    assert 5 <= pages <= 40
    for page in range(1, pages + 1):
        words = subprocess.run(
            ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"], capture_output=True, text=True
        ).stdout.split()
        assert len(words) > 3, f"page {page} is empty"


def test_csv_values_equal_results_json(report_dir):
    r = json.loads((report_dir / "results.json").read_text())
    rows = list(csv.DictReader(open(report_dir / "data" / "accuracy.csv")))
    for i, row in enumerate(rows):
        assert float(row["eps"]) == r["config"]["eps"][i]
        assert float(row["standard"]) == r["accuracy"]["standard"][i]
        assert float(row["robust"]) == r["accuracy"]["robust"][i]
    tops = list(csv.DictReader(open(report_dir / "data" / "top_channels.csv")))
    first = [t for t in tops if t["model"] == "robust" and float(t["eps"]) == 0.1][0]
    best = r["top_channels"]["robust"][1][0]
    assert (first["layer"], int(first["channel"]), float(first["sensitivity"])) == (
        best["layer"],
        best["channel"],
        best["sensitivity"],
    )


def test_from_rerenders_without_recomputing(report_dir, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(report_dir, copy)
    (copy / "report.html").unlink()
    assert main(["--from", str(copy), "--no-pdf", "--quiet"]) == 0
    assert (copy / "report.html").is_file()


def test_no_report_measures_only_and_from_renders_it_later(tmp_path, capsys):
    argv = ["--preset", "fashion", "--classes", "sneaker", "--eps", "0,0.1", "--n-images", "2"]
    assert main(argv + ["--quality", "none", "--quiet", "--no-report", "--out", "m"]) == 0
    assert "rnnviz-report --from" in capsys.readouterr().out
    assert (tmp_path / "m" / "results.json").is_file() and not (tmp_path / "m" / "report.html").exists()
    one_line_error(capsys, ["--from", "m", "--no-report"], "drop one of them")
    assert main(["--from", "m", "--no-pdf", "--quiet"]) == 0
    assert (tmp_path / "m" / "report.html").is_file()


def test_existing_out_folder_is_never_overwritten(report_dir, capsys):
    before = (report_dir / "results.json").read_bytes()
    one_line_error(capsys, TINY + ["--out", str(report_dir)], "already holds a finished run")
    assert (report_dir / "results.json").read_bytes() == before


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "argv,pattern",
    [
        (["--classes", "sneakr"], r"did you mean.*sneaker"),
        (["--eps", "-0.1"], r"outside \[0, 1\]"),
        (["--eps", "2"], r"outside \[0, 1\]"),
        (["--eps", "abc"], r"not a number"),
        (["--eps", "0.1,1/10"], r"more than once"),
        (["--layers", "layer9"], r"unknown layer 'layer9'.*layer1"),
        (["--top-k", "0"], r"top-k must be an integer from 1 to 1000"),
        (["--top-k", "999"], r"more than the \d+ channels"),
        (["--n-images", "x"], r"invalid int value"),
        (["--attack", "cw"], r"unknown --attack 'cw'; choose one of: fgsm, pgd, pgd-l2, apgd, apgd-t"),
        (["--neurons", "layer4.0"], r"not LAYER:CHANNEL"),
        (["--neurons", "layer3.0:999"], r"not a channel of an analysed layer"),
    ],
)
def test_bad_input_is_one_line(capsys, argv, pattern):
    one_line_error(capsys, TINY + ["--out", "r"] + argv, pattern)


@pytest.mark.parametrize(
    "argv,pattern",
    [
        # 256 channels in the tiny pair's layers: a top 200 (or 1000) leaves no 200 outside it for its controls
        (["--patch", "100,200"], r"--patch 100,200: the chosen layers hold 256 channels, so a top 200 .*at most 128$"),
        (["--patch", "1000"], r"--patch 1000: .* a top 1000 leaves too few outside it .*use k of at most 128$"),
        (
            ["--patch-share", "1e-9"],
            r"--patch-share 1e-09 picks none of the 12 images to patch; use at least 0\.\d+ or --patch none$",
        ),
    ],
)
def test_patching_that_could_not_answer_is_refused_before_the_attack(capsys, argv, pattern):
    """A k whose controls cannot match it, or a share that patches no image: one line, exit 2, no run."""
    assert main(TINY + ["--out", "r"] + argv) == EXIT_USAGE == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and re.search(pattern, err), err


def test_imagenet_without_data_fails_fast(capsys):
    t = time.perf_counter()
    one_line_error(capsys, ["--classes", "flamingo", "--eps", "0,0.01,0.1"], r"--data", r"--preset fashion")
    assert time.perf_counter() - t < 10


def test_missing_weights_offline(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    (tmp_path / "imgs" / "flamingo").mkdir(parents=True)
    one_line_error(
        capsys,
        [
            "--standard",
            "torchvision:resnet18",
            "--robust",
            "torchvision:resnet18",
            "--data",
            str(tmp_path / "imgs"),
            "--classes",
            "flamingo",
        ],
        r"resnet18-f37072fd\.pth",
        r"place the file",
    )


def test_checkpoint_that_does_not_fit(capsys, tmp_path):
    path = tmp_path / "r34.pt"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    (tmp_path / "imgs" / "flamingo").mkdir(parents=True)
    one_line_error(
        capsys,
        [
            "--standard",
            str(path),
            "--robust",
            str(path),
            "--arch",
            "resnet18",
            "--data",
            str(tmp_path / "imgs"),
            "--classes",
            "flamingo",
        ],
        r"does not fit resnet18",
    )


def test_empty_data_folder(capsys, tmp_path):
    (tmp_path / "imgs").mkdir()
    one_line_error(
        capsys,
        [
            "--standard",
            "random:resnet18",
            "--robust",
            "random:resnet18",
            "--quiet",  # both roles are one model: its warning is not what this checks
            "--data",
            str(tmp_path / "imgs"),
            "--classes",
            "flamingo",
        ],
        r"no images of class 'flamingo'",
    )


def test_debug_shows_traceback():
    with pytest.raises(UsageError, match=r"did you mean.*sneaker"):
        main(TINY + ["--classes", "sneakr", "--debug"])
