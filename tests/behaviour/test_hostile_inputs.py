"""Hostile and unlucky inputs on the engine side (issue 18): shared folders, concurrent runs,
FIFOs, unbounded settings, paths that leak, and messages that must stay one line."""

import json
import os
import subprocess
import sys
import warnings

import pytest
from PIL import Image

from rnnviz.cli import main
from rnnviz.results import runfolder

pytestmark = pytest.mark.usefixtures("offline")

TINY = [
    "--preset",
    "fashion",
    "--classes",
    "sneaker",
    "--eps",
    "0,0.1",
    "--n-images",
    "3",
    "--top-k",
    "2",
    "--n-examples",
    "1",
    "--quality",
    "none",
    "--quiet",
    "--no-pdf",
    "--no-report",  # these checks read results.json; the report has tests of its own
    "--bootstrap",
    "0",
    *("--no-transfer", "--fgsm-grid", "0", "--exemplars", "0"),  # nor transfer, the FGSM curve or cards
]


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# ---------------------------------------------------------------- 2. folders are owned


def test_a_folder_in_use_is_refused_and_the_default_moves_on(offline, capsys):
    with runfolder.claim("busy", {"x": 1}, "unused"):
        assert main(TINY + ["--out", "busy"]) == 2
        assert "in use by another rnnviz run" in one_line(capsys)
    with runfolder.claim(None, {"x": 1}, "fashion-sneaker") as held:
        assert main(TINY) == 0
        capsys.readouterr()
        others = sorted(p.name for p in (offline / "reports").iterdir())
        assert held.path.name in others and len(others) == 2
        assert json.loads((offline / "reports" / others[-1] / "results.json").read_text())["n_images"] == 3


@pytest.mark.slow
def test_two_processes_on_one_folder_never_both_succeed(offline):
    argv = [sys.executable, "-m", "rnnviz.cli", *TINY, "--out", "shared"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = sorted((p.wait(timeout=300), p.stderr.read().strip()) for p in procs)
    assert [rc for rc, _ in outcomes] == [0, 2], outcomes
    assert "in use by another rnnviz run" in outcomes[1][1] or "finished run" in outcomes[1][1]


def test_an_interrupted_folder_resumes_only_with_its_own_settings(offline, capsys):
    (offline / "left").mkdir()
    (offline / "left" / runfolder.INCOMPLETE_MARKER).write_text("fingerprint-of-another-command\n")
    assert main(TINY + ["--out", "left"]) == 2
    assert "interrupted run with different settings" in one_line(capsys)
    assert not (offline / "left" / "results.json").exists()


def test_a_finished_api_run_is_never_reused(offline, capsys):
    import rnnviz

    cfg = rnnviz.build_config(
        {
            "preset": "fashion",
            "classes": "sneaker",
            "eps": "0,0.1",
            "n_images": 2,
            "quality": "none",
            "out": "api",
            "bootstrap": 0,
        }
    )
    before = cfg.to_json()
    out = rnnviz.run(cfg, progress=False)
    assert not runfolder.is_unfinished(out) and cfg.to_json() == before  # no side effect on cfg
    assert main(TINY + ["--out", "api"]) == 2
    assert "finished run" in one_line(capsys)


def test_from_refuses_an_unfinished_folder(offline, capsys):
    assert main(TINY + ["--out", "r"]) == 0
    (offline / "r" / runfolder.INCOMPLETE_MARKER).write_text("x\n")
    assert main(["--from", "r", "--no-pdf", "--quiet"]) == 2
    assert "unfinished" in one_line(capsys)


# ---------------------------------------------------------------- 4, 6, 9: data files


def _imagenet_argv(data) -> list[str]:
    return [
        "--standard",
        "random:resnet18",
        "--robust",
        "random:resnet18",
        "--data",
        str(data),
        "--classes",
        "flamingo",
        "--eps",
        "0,0.01",
        "--n-images",
        "2",
        "--top-k",
        "1",
        "--quality",
        "none",
        "--no-pdf",
        "--no-report",
        *("--no-transfer", "--fgsm-grid", "0", "--exemplars", "0"),
        "--quiet",
        "--bootstrap",
        "0",
        "--layers",
        "layer4.1",
    ]


def test_a_class_with_no_readable_image_stops_the_run(offline, capsys):
    folder = offline / "imgs" / "n02007558"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(b"not a jpeg")
    (offline / "imgs" / "n01443537").mkdir()
    Image.new("RGB", (40, 40)).save(offline / "imgs" / "n01443537" / "ok.png")
    argv = _imagenet_argv(offline / "imgs")
    argv[argv.index("flamingo")] = "flamingo,goldfish"
    assert main(argv) == 2
    err = one_line(capsys)
    assert "flamingo" in err and "could be read" in err


@pytest.mark.slow  # a subprocess run at 224 px: make test-all
def test_a_fifo_in_labels_csv_is_skipped_not_waited_on(offline):
    folder = offline / "flat"
    folder.mkdir()
    Image.new("RGB", (40, 40), (200, 90, 90)).save(folder / "ok.png")
    os.mkfifo(folder / "pipe.png")
    (folder / "labels.csv").write_text("file,label\npipe.png,flamingo\nok.png,flamingo\n")
    proc = subprocess.run(
        [sys.executable, "-m", "rnnviz.cli", *_imagenet_argv(folder), "--out", "r"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((offline / "r" / "results.json").read_text())
    assert results["n_images"] == 1 and any("pipe.png" in w for w in results["warnings"])


def test_labels_csv_cannot_reach_outside_the_data_folder(offline, capsys):
    folder = offline / "flat"
    folder.mkdir()
    Image.new("RGB", (40, 40)).save(offline / "secret.png")
    (folder / "labels.csv").write_text(f"file,label\n../secret.png,flamingo\n{offline / 'secret.png'},flamingo\n")
    assert main(_imagenet_argv(folder)) == 2
    assert "outside the data folder" in one_line(capsys)


def test_results_hold_no_absolute_path_of_this_machine(offline):
    folder = offline / "imgs" / "n02007558"
    folder.mkdir(parents=True)
    Image.new("RGB", (40, 40), (200, 90, 90)).save(folder / "a.png")
    assert main(_imagenet_argv(offline / "imgs") + ["--out", str(offline / "abs")]) == 0
    text = (offline / "abs" / "results.json").read_text()
    assert str(offline) not in text


# ---------------------------------------------------------------- 7. bounds


@pytest.mark.parametrize(
    "flag,value,pattern",
    [
        ("--diversity", "1000000", "--diversity must be an integer from 0 to 16"),
        ("--n-examples", "300", "--n-examples must be an integer from 0 to 10"),
        ("--n-images", "1000000", "--n-images must be an integer from 1 to 100000"),
        ("--seed", "99999999999999999999", "--seed must be an integer from 0 to 4294967295"),
        ("--bootstrap", "100000", "--bootstrap must be an integer from 0 to 2000"),
        ("--eps", ",".join(f"{i}/255" for i in range(40)), "at most 32"),
    ],
)
def test_unbounded_settings_are_refused_with_the_maximum(capsys, flag, value, pattern):
    assert main(TINY + [flag, value]) == 2
    assert pattern in one_line(capsys)


@pytest.mark.slow
def test_a_capped_image_count_is_reported_as_used(offline):
    assert main(TINY + ["--n-images", "500", "--out", "r"]) == 0
    results = json.loads((offline / "r" / "results.json").read_text())
    assert results["classes"][0]["n_images"] == 100
    assert any("holds 100 images of sneaker" in w for w in results["warnings"])


# ---------------------------------------------------------------- 10. messages


@pytest.mark.parametrize(
    "argv,pattern",
    [
        (["--config", "."], "is a folder"),
        (["--device", "mps"], "unknown --device 'mps'"),
        (["--from", "x", "--classes", "bag"], "cannot apply --classes"),
        (["--from", "x", "--eps", "0,0.2", "--quality", "high"], "cannot apply --eps, --quality"),
    ],
)
def test_messages_are_one_line(capsys, argv, pattern):
    assert main(TINY + argv if argv[0] != "--from" else argv) == 2
    assert pattern in one_line(capsys)


def test_cuda_without_a_gpu_says_so(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(TINY + ["--device", "cuda"]) == 2
    assert "no CUDA GPU is available here; use --device cpu" in one_line(capsys)


def test_warnings_are_one_prefixed_line_and_silent_under_quiet(offline, capsys):
    from rnnviz.common import console

    with warnings.catch_warnings():
        console.one_line_warnings(quiet=False)
        warnings.warn("first line\n  second line")
    assert capsys.readouterr().err == "rnnviz-report: warning: first line second line\n"
    with warnings.catch_warnings():
        console.one_line_warnings(quiet=True)
        warnings.warn("hidden")
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_closed_stderr_and_broken_pipe_end_quietly(offline):
    argv = [sys.executable, "-m", "rnnviz.cli", *TINY, "--out", "p"]
    closed = subprocess.run(
        argv, stderr=subprocess.DEVNULL, stdout=subprocess.PIPE, timeout=300, preexec_fn=lambda: os.close(2)
    )
    assert closed.returncode == 0
    piped = subprocess.run(
        " ".join(argv[:3] + [f"'{a}'" for a in argv[3:-2]] + ["--out", "q", "| true"]),
        shell=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "BrokenPipe" not in piped.stderr and "Traceback" not in piped.stderr


def test_a_read_only_render_cache_is_named_before_the_attack(offline, capsys, monkeypatch):
    import rnnviz.pipeline.load as load
    import rnnviz.pipeline.stages as stages

    monkeypatch.setattr(load.os, "access", lambda path, mode: False)
    monkeypatch.setattr(stages, "analyze_attacks", lambda *a, **k: pytest.fail("attack started"))
    assert main([a if a != "none" else "draft" for a in TINY]) == 2
    err = one_line(capsys)
    assert "render cache" in err and "not writable" in err and "RNNVIZ_CACHE" in err


def test_disk_full_names_the_file(offline, capsys, monkeypatch):
    import errno

    import rnnviz.results.build as results

    def full(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(results, "atomic_write_json", full)
    assert main(TINY + ["--out", "r"]) == 1
    err = one_line(capsys)
    assert "No space left on device writing" in err and "results.json" in err
