"""``--from`` on someone else's folder: every list and object has a limit the engine's own output
keeps to, the rules between the matching fields are checked, file names that are not UTF-8 still
render, and the folder's results.json is left byte for byte as it was."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from fixtures.make_results import SMALL, make_results
from fixtures.record import RECORDED
from helpers import run_cli_child

from rnnviz.cli import main
from rnnviz.common.files import text_name, text_values
from rnnviz.common.names import MODELS
from rnnviz.report import TIMINGS_FILE, load_results
from rnnviz.report.validate import budgets
from rnnviz.settings.replicas import MAX_REPLICAS, replicate_pairs

REPO = Path(__file__).parents[2]


def damaged(tmp_path: Path, damage) -> Path:
    root = make_results(tmp_path / "run", **SMALL)
    results = json.loads((root / "results.json").read_text())
    damage(results)
    (root / "results.json").write_text(json.dumps(results))
    return root


def refused(capsys, root: Path) -> str:
    """The one line ``--from`` answers with (exit 2, no traceback)."""
    assert main(["--from", str(root), "--no-pdf", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not (root / "report.html").exists()
    return err


# ------------------------------------------------------------------ every container has a limit


def test_every_list_and_object_of_the_schema_has_a_limit():
    found = list(budgets.containers())
    assert len(found) > 150  # the walk reaches inside $defs and nested lists
    assert [path for path, node in found if budgets.limit_of(node) is None] == []
    named = {node["x-most"] for _, node in found if "x-most" in node}
    assert named <= set(budgets.bounds({})), named - set(budgets.bounds({}))  # each x-most names a bound


@pytest.mark.parametrize("name", sorted(p.name for p in RECORDED.iterdir() if p.is_dir()))
def test_recorded_runs_pass_every_limit(name):
    load_results(RECORDED / name)  # a real run of the engine: refused here, --from would refuse its own folder


def test_the_engine_s_tiny_run_passes_every_limit(tiny_run):
    """Both attacks, every recipe, cards and a --neurons map: what the recordings leave out."""
    results = load_results(tiny_run)
    assert any(getattr(results.neuron_sensitivity, m)[1] for m in MODELS)


def test_limits_come_from_where_the_engine_is_bounded():
    from rnnviz.models.input_size import MAX_SIZE

    results = json.loads((RECORDED / "default" / "results.json").read_text())
    b = budgets.bounds(results)
    assert b["pairs"][0] == 1 + MAX_REPLICAS  # the run's own pair and --replicate's
    replicate_pairs(["s", "r"] * MAX_REPLICAS)  # the most --replicate takes
    with pytest.raises(Exception, match="give 1 to"):
        replicate_pairs(["s", "r"] * (MAX_REPLICAS + 1))
    assert budgets.INPUT_MAX == MAX_SIZE
    assert b["layers"][0] == len(results["config"]["layers"]) == 5
    assert b["side_standard"][0] == results["models"]["standard"]["input_size"] == 28


# ------------------------------------------------------------------ amplification, one line each


def _matching_layers(n: int, in_config: bool = False):
    def damage(r: dict) -> None:
        match = r["matching"]
        first = match["layers"][0]
        match["layers"] = [first] + [f"layer{i}" for i in range(1, n)]
        match["cka"] = [[0.5] * n for _ in range(n)]
        match["per_layer"] = {layer: match["per_layer"][first] for layer in match["layers"]}
        if in_config:
            r["config"]["layers"] = match["layers"]

    return damage


def _warnings(r: dict) -> None:
    r["warnings"] = [f"note {i}: " + "x" * 380 for i in range(40_000)]


def _neurons(r: dict) -> None:
    r["config"]["neurons"] = ["layer4.0:3"]
    for m in MODELS:
        r["neuron_sensitivity"][m] = [{"layer4.0:3": [[0.1] * 1500 for _ in range(1500)]} for _ in r["config"]["eps"]]


def _pairs(n: int):
    def damage(r: dict) -> None:
        pair = {
            "models": {m: {k: r["models"][m].get(k) for k in ("name", "source", "sha256")} for m in MODELS},
            "accuracy": r["accuracy"],
            "comparison": r["comparison"],
            "top": {m: r["top_channels"][m] for m in MODELS},
            "overlap": None,
        }
        other = copy.deepcopy(pair)
        row = {"k": 2, "matched_jaccard": 0.5, "raw_jaccard": 0.5, "n_real": 1}
        other["overlap"] = {m: [None if e == 0 else row for e in r["config"]["eps"]] for m in MODELS}
        pairs = [pair] + [other] * (n - 1)
        r["replication"] = {"measure": "m", "overlap": "o", "n_images": r["n_images"], "pairs": pairs}

    return damage


def _ratio_outside(r: dict) -> None:
    _pairs(2)(r)
    entry = copy.deepcopy(r["comparison"][1])
    entry.update(ratio=50.0, ratio_ci=[0.1, 0.2])
    r["replication"]["pairs"][1]["comparison"] = [None, entry]


def _ragged(r: dict) -> None:
    r["matching"]["cka"][1] = r["matching"]["cka"][1][:1]


def _per_layer_missing(r: dict) -> None:
    del r["matching"]["per_layer"][r["matching"]["layers"][-1]]


AMPLIFIED = {  # damage, what the line must say
    "120 matched layers": (_matching_layers(120), "matching.layers has 120 entries, more than the 2 layers config"),
    "40,000 warnings": (_warnings, "warnings has 40000 entries, more than the 10 "),
    "a 1500 x 1500 neuron grid": (
        _neurons,
        "neuron_sensitivity.standard[0].layer4.0:3 has 1500 entries, more than the 28 pixels on a side of models",
    ),
    "500 replication pairs": (_pairs(500), "replication.pairs has 500 entries, more than the 5 pairs a run writes"),
}
CHECKED = {
    "a ragged CKA matrix": (_ragged, "matching.cka[1] has 1 entry: expected 2 (a square matrix)"),
    "a layer without per_layer": (_per_layer_missing, "matching.per_layer.layer4.0 is missing: one entry per"),
    "a ratio outside its interval": (_ratio_outside, "comparison[1].ratio is 50, outside its ratio_ci [0.1, 0.2]"),
    "a ratio that is not standard / robust": (
        lambda r: r["comparison"][1].update(ratio=r["comparison"][1]["ratio"] * 1.01),
        "comparison[1].ratio is 6.84021: expected standard / robust = 6.77249",
    ),
    "a layer matched that the run did not analyse": (
        lambda r: r["matching"]["layers"].__setitem__(0, "fc"),
        "matching.layers[0] is 'fc': expected each layer of config.layers at most once",
    ),
}


@pytest.mark.parametrize("case", [*AMPLIFIED, *CHECKED])
def test_a_field_past_its_limit_or_rule_is_refused_in_one_line(tmp_path, capsys, case):
    damage, expected = {**AMPLIFIED, **CHECKED}[case]
    root = damaged(tmp_path, damage)
    err = refused(capsys, root)
    assert err.startswith("rnnviz-report: error: results.json: ") and expected in err, err


@pytest.mark.slow  # a child process per case, reading folders up to 60 MB: make test-all
@pytest.mark.parametrize("case", list(AMPLIFIED))
def test_amplified_folders_are_refused_with_bounded_memory(tmp_path, case):
    root = damaged(tmp_path, AMPLIFIED[case][0])
    start = time.perf_counter()
    code, err, peak = run_cli_child(["--from", str(root), "--quiet"])
    seconds = time.perf_counter() - start
    print(f"{case}: exit {code}, {peak:.0f} MB peak RSS, {seconds:.1f} s: {err}")
    assert code == 2 and len(err) == 1, err
    assert AMPLIFIED[case][1] in err[0]
    assert peak < 1500  # the 1500 x 1500 grids are 60 MB of JSON; parsing them is the peak
    assert not (root / "report.html").exists()


def test_a_long_layer_list_does_not_grow_the_cka_map(tmp_path):
    """120 layers that config.layers lists too pass the limits (a run may analyse that many), so the
    heat map itself is bounded: the 120-layer map once drew a 15,000 px canvas (7.2 GB)."""
    from PIL import Image

    from rnnviz.report.figures.matching import NUMBERED, cka_plot
    from rnnviz.results.model.matching import Matching

    results = json.loads((RECORDED / "small" / "results.json").read_text())
    _matching_layers(120, in_config=True)(results)
    (tmp_path / "figures").mkdir()
    cka_plot(Matching.model_validate(results["matching"]), tmp_path, "cka")
    wide = Image.open(tmp_path / "figures" / "cka.png").size
    _matching_layers(NUMBERED, in_config=True)(results)
    cka_plot(Matching.model_validate(results["matching"]), tmp_path, "cka16")
    sixteen = Image.open(tmp_path / "figures" / "cka16.png").size
    assert all(abs(a - b) < 100 for a, b in zip(wide, sixteen)) and max(wide) < 4000, (wide, sixteen)


# ------------------------------------------------------------------ file names that are not UTF-8


def test_names_that_are_not_utf8_become_backslash_escapes():
    assert text_name(os.fsdecode(b"bad\xff.png")) == "bad\\xff.png"
    assert text_name("ok é.png") == "ok é.png"
    assert text_name("\ud800.png") == "\\ud800.png"  # a lone surrogate from a JSON escape
    assert text_values({"a\udcff": ["x\udcff", 1, None]}) == {"a\\xff": ["x\\xff", 1, None]}


def _folder_with_a_bad_name(root: Path) -> Path:
    """A class folder for the built-in models: three readable images and one unreadable file whose
    name is not UTF-8."""
    from PIL import Image

    folder = root / "imgs" / "sneaker"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.new("L", (28, 28), 40 * i).save(folder / f"ok{i}.png")
    with open(os.fsencode(folder) + b"/bad\xff.png", "wb") as f:
        f.write(b"not a png")
    return root / "imgs"


TINY_FOLDER_RUN = [
    *("--standard", "builtin:fashion-standard", "--robust", "builtin:fashion-robust", "--classes", "sneaker"),
    *("--eps", "0,0.1", "--n-images", "3", "--top-k", "1", "--n-examples", "1", "--quality", "none"),
    *("--bootstrap", "0", "--no-transfer", "--fgsm-grid", "0", "--exemplars", "0", "--patch", "none", "--quiet"),
]  # fmt: skip


def test_a_name_that_is_not_utf8_is_escaped_in_results_json(offline, capsys):
    data = _folder_with_a_bad_name(offline)
    assert main([*TINY_FOLDER_RUN, "--data", str(data), "--no-report", "--out", "r"]) == 0
    text = (offline / "r" / "results.json").read_bytes().decode("utf-8")
    assert "\\udc" not in text and "skipped 1 unreadable image(s): bad\\\\xff.png" in text


def test_from_renders_a_folder_whose_results_json_holds_a_lone_surrogate(tmp_path, capsys):
    """A folder written before the engine escaped names (or edited) carries "\\udcff" in its JSON."""
    root = damaged(tmp_path, lambda r: r["warnings"].append("skipped 1 unreadable image(s): bad\udcff.png (OSError)"))
    assert "\\udcff" in (root / "results.json").read_text()
    assert main(["--from", str(root), "--no-pdf", "--quiet"]) == 0, capsys.readouterr().err
    assert "bad\\xff.png" in (root / "report.html").read_text(encoding="utf-8")


@pytest.mark.slow  # an engine run and its PDF: make test-all
def test_a_name_that_is_not_utf8_reaches_the_pdf(offline, capsys):
    data = _folder_with_a_bad_name(offline)
    assert main([*TINY_FOLDER_RUN, "--data", str(data), "--out", "r"]) == 0, capsys.readouterr().err
    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(offline / "r" / "report.pdf").pages)
    assert "bad\\xff.png" in text
    (offline / "r" / "report.pdf").unlink()
    assert main(["--from", str(offline / "r"), "--quiet"]) == 0
    assert (offline / "r" / "report.pdf").stat().st_size > 0


# ------------------------------------------------------------------ results.json is the engine's record


def test_from_leaves_results_json_byte_identical(tmp_path, capsys):
    root = make_results(tmp_path / "run", **SMALL)
    before = hashlib.sha256((root / "results.json").read_bytes()).hexdigest()
    stamp = (root / "results.json").stat().st_mtime_ns
    assert main(["--from", str(root), "--no-pdf", "--quiet"]) == 0, capsys.readouterr().err
    assert hashlib.sha256((root / "results.json").read_bytes()).hexdigest() == before
    assert (root / "results.json").stat().st_mtime_ns == stamp
    timings = json.loads((root / TIMINGS_FILE).read_text())
    assert set(timings) == {"report_s"} and timings["report_s"] > 0  # no PDF, no pdf_s
