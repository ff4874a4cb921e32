"""Faults and the remaining bad inputs: interrupted runs, a full disk, broken PDFs, NaN models.

Each test here backs a row of the table in docs/failures.md.
"""

import dataclasses
import errno
import json
from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image

import rnnviz.channels.featvis as featvis
import rnnviz.pipeline.stages as stages
from rnnviz.cli import main
from rnnviz.common.files import atomic_write_bytes

BASE = [
    "--preset",
    "fashion",
    "--classes",
    "sneaker",
    "--eps",
    "0,0.1",
    "--n-images",
    "4",
    "--top-k",
    "2",
    "--n-examples",
    "1",
    "--recipes",
    "lucid",
    "--quality",
    "draft",
    "--quiet",
    "--no-pdf",
]


@pytest.fixture(autouse=True)
def short_renders(offline, monkeypatch):
    monkeypatch.setitem(featvis.QUALITY, "draft", dataclasses.replace(featvis.QUALITY["draft"], steps=3))


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def results_without_timings(folder: Path) -> dict:
    r = json.loads((folder / "results.json").read_text())
    for key in ("timings", "created", "environment"):
        r.pop(key)
    r["config"].pop("out")
    return r


def test_ctrl_c_during_attack_keeps_nothing_half_done_and_rerun_works(tmp_path, monkeypatch, capsys):
    real = stages.analyze_attacks
    monkeypatch.setattr(stages, "analyze_attacks", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert main(BASE + ["--out", "r", "--no-report"]) == 130
    assert "interrupted" in error_line(capsys)
    assert not (tmp_path / "r" / "results.json").exists()
    monkeypatch.setattr(stages, "analyze_attacks", real)
    assert main(BASE + ["--out", "r", "--no-report"]) == 0
    assert json.loads((tmp_path / "r" / "results.json").read_text())["accuracy"]


@pytest.mark.slow
def test_ctrl_c_during_rendering_keeps_attack_results_and_resumes_from_cache(tmp_path, monkeypatch, capsys):
    assert main(BASE + ["--out", "reference"]) == 0
    calls = {"n": 0}
    real = featvis.render_channels

    def interrupted_second_call(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setenv("RNNVIZ_CACHE", str(tmp_path / "cache2"))
    monkeypatch.setattr(featvis, "render_channels", interrupted_second_call)
    assert main(BASE + ["--out", "r"]) == 130
    kept = json.loads((tmp_path / "r" / "results.json").read_text())
    assert kept["accuracy"] and kept["renders"] == []
    monkeypatch.setattr(featvis, "render_channels", real)
    assert main(BASE + ["--out", "r"]) == 0
    assert results_without_timings(tmp_path / "r") == results_without_timings(tmp_path / "reference")
    same = [p.name for p in (tmp_path / "r" / "figures" / "renders").iterdir()]
    assert same
    for name in same:
        assert (tmp_path / "r" / "figures" / "renders" / name).read_bytes() == (
            tmp_path / "reference" / "figures" / "renders" / name
        ).read_bytes()


def test_full_disk_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    target.write_text('{"complete": true}')

    def full(self, data):
        with open(self, "wb") as f:
            f.write(data[:3])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b'{"complete": false, "partial": true}')
    monkeypatch.undo()
    assert target.read_text() == '{"complete": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_full_disk_during_a_run_is_one_line(tmp_path, monkeypatch, capsys):
    import rnnviz.results.build as results

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results, "atomic_write_json", full)
    assert main(BASE + ["--out", "r"]) != 0
    assert "No space left on device" in error_line(capsys)


@pytest.mark.slow  # the same rule on a re-render: tests/report/test_report.py (in make test)
def test_weasyprint_failure_keeps_html_and_results(tmp_path, monkeypatch, capsys):
    import weasyprint

    class Broken:
        def __init__(self, *a, **k):
            raise RuntimeError("pango exploded")

    monkeypatch.setattr(weasyprint, "HTML", Broken)
    argv = [a for a in BASE if a != "--no-pdf"] + ["--out", "r"]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 1 and "PDF" in err and "pango exploded" in err
    assert (tmp_path / "r" / "report.html").is_file() and (tmp_path / "r" / "results.json").is_file()
    assert not (tmp_path / "r" / "report.pdf").exists()


def test_nan_logits_are_reported_not_averaged(tmp_path, capsys):
    net = torchvision.models.resnet18(weights=None)
    state = net.state_dict()
    state["fc.bias"][0] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    (tmp_path / "imgs" / "flamingo").mkdir(parents=True)
    Image.new("RGB", (40, 40), (200, 100, 50)).save(tmp_path / "imgs" / "flamingo" / "a.png")
    rc = main(
        [
            "--standard",
            str(tmp_path / "nan.pt"),
            "--robust",
            str(tmp_path / "nan.pt"),
            "--data",
            str(tmp_path / "imgs"),
            "--classes",
            "flamingo",
            "--quality",
            "none",
            "--quiet",
            "--no-pdf",
        ]
    )
    assert rc == 2 and "NaN" in error_line(capsys)


def test_models_with_different_label_sets(capsys):
    assert main(BASE + ["--robust", "random:resnet18"]) == 2
    assert "different label sets" in error_line(capsys)


def test_ambiguous_class(tmp_path, capsys):
    (tmp_path / "imgs").mkdir()
    rc = main(
        [
            "--standard",
            "random:resnet18",
            "--robust",
            "random:resnet18",
            "--data",
            str(tmp_path / "imgs"),
            "--classes",
            "crane",
            "--quiet",
        ]
    )
    assert rc == 2 and "n02012849" in error_line(capsys)


@pytest.mark.parametrize(
    "text,pattern",
    [
        ("top_k = 3\nflavour = 'x'\n", "unknown key 'flavour'"),
        ("top_k = 'three'\n", "'top_k' .* wrong type"),
        ("eps = [0, 0.1\n", "not valid TOML"),
    ],
)
def test_bad_config_file(tmp_path, capsys, text, pattern):
    import re

    (tmp_path / "c.toml").write_text(text)
    assert main(BASE + ["--config", str(tmp_path / "c.toml")]) == 2
    assert re.search(pattern, error_line(capsys))


def test_config_file_sits_between_defaults_and_flags(tmp_path):
    (tmp_path / "c.toml").write_text('top_k = 1\neps = "0,4/255"\nn_images = 3\nseed = 5\n')
    flags = ["--top-k", "2", "--quality", "none", "--no-report", "--out", "r"]
    assert main(BASE + ["--config", str(tmp_path / "c.toml"), *flags]) == 0
    r = json.loads((tmp_path / "r" / "results.json").read_text())
    assert r["config"]["top_k"] == 2 and r["config"]["n_images"] == 4 and r["config"]["eps"] == [0.0, 0.1]
    assert r["config"]["seed"] == 5


def test_output_folder_not_writable(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(BASE + ["--out", str(tmp_path / "file" / "sub")]) == 2
    assert "cannot write to output folder" in error_line(capsys)


def test_huge_image_is_skipped_with_a_warning(tmp_path):
    from rnnviz.data.images import Preprocess, Selection
    from rnnviz.data.stream import load_folder
    from rnnviz.models.labels import imagenet_labels

    folder = tmp_path / "flamingo"
    folder.mkdir()
    Image.new("RGB", (40, 40)).save(folder / "ok.png")
    Image.new("1", (20000, 20000)).save(folder / "huge.png")  # 400 Mpx: a decompression bomb to PIL
    with pytest.warns(UserWarning, match="huge.png"):
        s = load_folder(tmp_path, imagenet_labels(), Selection([130], 5, 0), Preprocess(32, 36))
    assert len(s) == 1
