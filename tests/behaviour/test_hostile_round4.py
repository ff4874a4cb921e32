"""Hostile and unlucky inputs, round four (the engine side): a thin image that costs gigabytes, weights
cached by file name alone, trust from a config file, many layers with no memory check, and misleading
one-line messages."""

import http.server
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import run_cli_child
from PIL import Image

import rnnviz.pipeline.stages as stages
from rnnviz.cli import main, settings_from
from rnnviz.common.errors import UsageError
from rnnviz.common.names import BIG
from rnnviz.data.images import MAX_RESIZED_CROPS, Preprocess, Selection, check_cost, find_class_files
from rnnviz.data.stream import FolderImages, stream_folder
from rnnviz.models import download, zoo
from rnnviz.models.labels import imagenet_labels
from rnnviz.models.loading import load_model
from rnnviz.sweep.passes import NonFiniteOutput, check_activations

REPO = Path(__file__).parents[2]
TENCH, GOLDFISH = "n01440764", "n01443537"

TINY = [
    *("--preset", "fashion", "--classes", "sneaker", "--eps", "0,0.1", "--n-images", "3", "--top-k", "2"),
    *("--n-examples", "1", "--quality", "none", "--quiet", "--no-pdf", "--no-report", "--bootstrap", "0"),
    *("--no-transfer", "--fgsm-grid", "0", "--exemplars", "0", "--patch", "none"),
]


def _small_imagenet(data: Path, *extra: str) -> list[str]:
    """A fast ImageNet-style run: a random ResNet-18 at 32 px (resize 37, crop 32) on a class folder."""
    return [
        *("--standard", "random:resnet18@32", "--robust", "random:resnet18@32", "--data", str(data)),
        *("--classes", "tench,goldfish", "--eps", "0,0.1", "--n-images", "4", "--top-k", "1"),
        *("--quality", "none", "--no-pdf", "--no-report", "--bootstrap", "0", "--no-transfer", "--fgsm-grid", "0"),
        *("--patch", "none", "--exemplars", "0", "--exemplar-pool", "chosen", "--layers", "layer4", "--quiet"),
        *extra,
    ]


def _class_folders(root: Path, n: int = 3) -> Path:
    for k, synset in enumerate((TENCH, GOLDFISH)):
        (root / synset).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = np.random.default_rng([k, i]).integers(0, 256, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / synset / f"{i}.png")
    return root


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _run_child(argv: list[str], cwd: Path, **env: str) -> tuple[int, list[str], float]:
    """(exit code, stderr lines, peak RSS in MB) of ``rnnviz-report argv`` offline, with its own cache."""
    return run_cli_child(argv, cwd, RNNVIZ_CACHE=str(cwd / "cache"), RNNVIZ_OFFLINE="1", **env)


# ------------------------------------------------------------------ 1. a 102-byte image that costs gigabytes


def test_the_cost_of_an_image_is_bounded_from_its_header():
    prep = Preprocess(224, 256)
    check_cost((500, 375), prep)  # a photo
    check_cost((40 * 256, 256), prep)  # a 40:1 panorama: within MAX_RESIZED_CROPS crops' worth of pixels
    with pytest.raises(ValueError, match=r"20000x1 px, too elongated: .* 5120000x256 px for a 224 px crop"):
        check_cost((20000, 1), prep)
    with pytest.raises(ValueError, match="too elongated"):
        check_cost((1, 20000), prep)
    check_cost((20000, 1), Preprocess(28))  # no resize: ImageOps.fit crops before it resizes
    assert MAX_RESIZED_CROPS * 224**2 < 4e6  # what one accepted image may cost: a few MB


def test_a_thin_image_is_skipped_with_its_name(tmp_path):
    root = _class_folders(tmp_path / "d")
    Image.new("L", (20000, 1)).save(root / TENCH / "t.png")
    prep = Preprocess(32, 37)
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image\(s\): t.png \(20000x1 px, too elongated"):
        got = stream_folder(root, imagenet_labels(), Selection([0, 1], 10, 0), prep)
    assert len(got) == 6 and got.skipped[0].startswith("t.png (20000x1 px, too elongated")


def test_a_thin_image_in_a_run_costs_no_memory(tmp_path):
    root = _class_folders(tmp_path / "d")
    Image.new("L", (20000, 1)).save(root / TENCH / "t.png")
    assert (root / TENCH / "t.png").stat().st_size < 200
    argv = [a for a in _small_imagenet(root, "--out", "r") if a != "--quiet"]
    rc, err, peak = _run_child(argv, tmp_path)
    print(f"thin image: exit {rc}, {peak:.0f} MB peak RSS: {[line for line in err if 't.png' in line]}")
    assert rc == 0, err
    assert any("t.png (20000x1 px, too elongated" in line for line in err) and "Traceback" not in "\n".join(err)
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert any("t.png (20000x1 px" in w for w in results["warnings"]) and results["n_images"] == 6
    assert peak < 1500  # before: the 20000x1 PNG alone grew a 37 px model's run by its 82 MB resize per read


def test_a_memory_error_is_never_reported_as_a_changed_file(tmp_path, monkeypatch, offline, capsys):
    import rnnviz.data.stream as stream

    def exhausted(path, prep):
        raise MemoryError

    monkeypatch.setattr(stream, "read_image", exhausted)
    with pytest.raises(MemoryError):
        FolderImages([tmp_path / "a.png"], [0], Preprocess(32))[0]
    monkeypatch.setattr(stages, "analyze_attacks", lambda *a, **k: exhausted(None, None))
    assert main([*TINY, "--out", "r"]) == 1
    err = one_line(capsys)
    assert "out of memory; lower --batch-size" in err and "no longer be read" not in err


# ------------------------------------------------------------------ 2. downloaded weights keyed by their URL


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request lines on the test's stderr
        pass


@pytest.fixture
def served(tmp_path):
    """Two different checkpoints both named model.pt (/a/ and /b/), served on loopback only."""
    site = tmp_path / "site"
    for folder, name in (("a", "fashion-standard"), ("b", "fashion-robust")):
        (site / folder).mkdir(parents=True)
        (site / folder / "model.pt").write_bytes(zoo.builtin_weights_path(name).read_bytes())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Quiet(*a, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_two_urls_ending_in_the_same_name_are_two_files(served, tmp_path, monkeypatch):
    base, site = served
    monkeypatch.setenv("RNNVIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("RNNVIZ_OFFLINE", raising=False)
    a, b = download.fetch_checkpoint(f"{base}/a/model.pt"), download.fetch_checkpoint(f"{base}/b/model.pt")
    assert a != b and a.name == b.name == "model.pt"
    assert a.read_bytes() == (site / "a" / "model.pt").read_bytes()
    assert b.read_bytes() == (site / "b" / "model.pt").read_bytes()
    shas = [load_model(f"{base}/{f}/model.pt").sha256 for f in "ab"]
    assert shas == [zoo.BUILTIN_SHA256["fashion-standard"], zoo.BUILTIN_SHA256["fashion-robust"]]
    index = json.loads((tmp_path / "cache" / "weights" / download.INDEX).read_text())
    assert {e["url"]: e["sha256"] for e in index.values()} == {
        f"{base}/a/model.pt": shas[0],
        f"{base}/b/model.pt": shas[1],
    }


def test_a_cached_file_that_changed_since_its_download_is_refused(served, offline, monkeypatch, capsys):
    base, _ = served
    monkeypatch.delenv("RNNVIZ_OFFLINE")
    path = download.fetch_checkpoint(f"{base}/a/model.pt")
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    capsys.readouterr()  # the download's progress bar
    argv = [*TINY, "--standard", f"{base}/a/model.pt", "--out", "r"]
    assert main(argv) == 2
    err = one_line(capsys)
    assert "has changed since it was downloaded from" in err and str(path.parent) in err
    assert not (offline / "r" / "results.json").exists()


@pytest.mark.parametrize("tail", ["..", ".", ""])
def test_a_url_that_names_no_file_is_refused(offline, capsys, tail):
    assert main([*TINY, "--standard", f"http://127.0.0.1:9/models/{tail}"]) == 2
    err = one_line(capsys)
    assert "names no file" in err and "give the URL of the checkpoint file itself" in err


# ------------------------------------------------------------------ 3. trust comes from the command line only


def test_a_config_file_cannot_turn_on_trust_pickle(offline, capsys, monkeypatch):
    (offline / "c.toml").write_text('trust_pickle = true\nclasses = "sneaker"\n')
    assert main([*TINY, "--config", "c.toml"]) == 2
    err = one_line(capsys)
    assert "'trust_pickle' in c.toml" in err and "pass --trust-pickle" in err and "RNNVIZ_TRUST_PICKLE=1" in err
    args = __import__("rnnviz.cli", fromlist=["build_parser"]).build_parser().parse_args(TINY)
    assert settings_from(args).get("trust_pickle") is None
    monkeypatch.setenv("RNNVIZ_TRUST_PICKLE", "1")
    assert settings_from(args)["trust_pickle"] is True


@pytest.mark.parametrize("kind", ["fifo", "zero", "folder", "huge"])
def test_a_config_that_is_no_small_regular_file_is_refused_at_once(offline, kind):
    target = {"fifo": offline / "c.toml", "zero": Path("/dev/zero"), "folder": offline, "huge": offline / "h.toml"}
    if kind == "fifo":
        os.mkfifo(target[kind])
    if kind == "huge":
        target[kind].write_text("# padding\n" * 200_000)
    start = time.monotonic()
    rc, err, peak = _run_child([*TINY, "--config", str(target[kind])], offline)
    print(f"--config {kind}: exit {rc} after {time.monotonic() - start:.1f} s, {peak:.0f} MB: {err[-1]}")
    assert rc == 2 and len(err) == 1, err
    expected = {
        "fifo": "is not a regular file (a pipe or a device)",
        "zero": "is not a regular file (a pipe or a device)",
        "folder": "is a folder",
        "huge": "is over 1024 KB",
    }[kind]
    assert expected in err[0] and "pass a TOML file" in err[0]


# ------------------------------------------------------------------ 4. memory before the sweep


def test_many_layers_are_refused_before_the_sweep_with_the_limit(tmp_path):
    root = _class_folders(tmp_path / "d", n=2)
    net = load_model("random:resnet50@32").module
    layers = [
        n for n, m in net.named_modules() if n.startswith("layer") and type(m).__name__ in ("Conv2d", "BatchNorm2d")
    ]
    assert len(layers) == 104
    argv = _small_imagenet(root, "--standard", "random:resnet50@32", "--robust", "random:resnet50@32")
    argv[argv.index("layer4")] = ",".join(layers)
    rc, err, peak = _run_child(argv, tmp_path, RNNVIZ_MEMORY_MB="8000")
    print(f"104 layers: exit {rc}, {peak:.0f} MB peak RSS: {err[-1]}")
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("rnnviz-report: error: 104 layers (52992 channels) need about ")
    assert "more than the 8.0 GB available; analyse fewer --layers (the defaults: 17)" in err[0]
    assert "RNNVIZ_MEMORY_MB" in err[0] and peak < 2000


def test_the_batch_is_lowered_to_fit_with_one_line(offline, capsys, monkeypatch):
    from rnnviz.pipeline.load import size_text
    from rnnviz.sweep.settings import SweepShape, sweep_cost

    model = load_model("builtin:fashion-standard")
    x = torch.rand(1, 3, 28, 28)
    cost = sweep_cost(
        model.module, model.default_layers, x, SweepShape(moving_eps=1, attacks=1, bootstrap=0, classes=1)
    )
    limit = cost.need(2) + cost.per_image // 2
    monkeypatch.setenv("RNNVIZ_MEMORY_MB", str(limit / 1e6))
    argv = [a for a in TINY if a != "--quiet"] + ["--out", "r", "--batch-size", "32"]
    assert main(argv) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rnnviz-report:")]
    assert err == [
        "rnnviz-report: warning: --batch-size lowered from 32 to 2 to fit in memory (numbers change only by float "
        f"rounding): 32 images of {len(model.default_layers)} layers need about {size_text(cost.need(32))}, "
        f"more than the {size_text(limit)} available"
    ], err
    results = json.loads((offline / "r" / "results.json").read_text())
    assert any("--batch-size lowered from 32 to 2" in w for w in results["warnings"])
    assert results["config"]["batch_size"] == 32  # as asked: the folder resumes under the same settings


def test_the_memory_override_must_be_a_number(offline, capsys, monkeypatch):
    monkeypatch.setenv("RNNVIZ_MEMORY_MB", "lots")
    assert main([*TINY, "--out", "r"]) == 2
    assert "RNNVIZ_MEMORY_MB='lots' is not a number of megabytes" in one_line(capsys)


# ------------------------------------------------------------------ 5. paths, tables, values and messages


def test_a_local_checkpoint_is_named_by_file_name_in_results_and_report(offline, tmp_path):
    weights = tmp_path / "private" / "deep" / "mine.pt"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(zoo.builtin_weights_path("fashion-robust").read_bytes())
    argv = [a for a in TINY if a != "--no-report"] + ["--robust", str(weights), "--out", str(tmp_path / "r")]
    assert main(argv) == 0
    for name in ("results.json", "report.html"):
        text = (tmp_path / "r" / name).read_text()
        assert str(weights.parent) not in text and "mine.pt" in text, name
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["config"]["robust"] == "mine.pt" and results["models"]["robust"]["source"] == "mine.pt"
    assert results["models"]["robust"]["sha256"] == zoo.BUILTIN_SHA256["fashion-robust"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("ok.png,flamingo\ncaf\xe9.png,flamingo\n".encode("latin-1"), "is not UTF-8 text (byte 19, line 2)"),
        (b"x" * 200_000 + b",flamingo\n", "line 1: field larger than field limit (131072)"),
        (b"ok.png,flamingo\na\x00b.png,flamingo\n", "holds a NUL byte on line 2"),
    ],
)
def test_a_broken_labels_csv_is_named_with_its_problem(offline, capsys, content, message):
    folder = offline / "flat"
    folder.mkdir()
    Image.new("RGB", (40, 40)).save(folder / "ok.png")
    (folder / "labels.csv").write_bytes(content)
    with pytest.raises(UsageError, match="labels.csv") as err:
        find_class_files(folder, imagenet_labels(), [130])
    assert message in str(err.value) and "\n" not in str(err.value)
    assert main(_small_imagenet(folder, "--classes", "flamingo")) == 2
    err_line = one_line(capsys)
    assert "labels.csv" in err_line and message in err_line


def test_activations_beyond_what_results_hold_stop_the_run_with_one_line(offline, capsys):
    state = torch.load(zoo.builtin_weights_path("fashion-standard"), weights_only=True)
    first = next(k for k in state if k.endswith("weight") and state[k].dim() == 4)
    state[first] = state[first] * 1e13
    torch.save(state, offline / "loud.pt")
    assert main([*TINY, "--standard", str(offline / "loud.pt"), "--out", "r"]) == 2
    err = one_line(capsys)
    assert "the standard model (loud) outputs values up to" in err and "check the checkpoint" in err
    assert not (offline / "r" / "results.json").exists()
    check_activations({"a": torch.full((2, 3), BIG / 2)})
    with pytest.raises(NonFiniteOutput, match="NaN or inf at layer 'b'"):
        check_activations({"a": torch.ones(2, 3), "b": torch.tensor([[float("inf")]])})


def test_exemplar_pool_skips_are_results_warnings(offline):
    root = _class_folders(offline / "d", n=2)
    pool_class = root / "n01484850"  # great white shark: a class of the source the run does not analyse
    pool_class.mkdir()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(pool_class / "ok.png")
    (pool_class / "broken.png").write_bytes(b"not a png")
    argv = _small_imagenet(root, "--out", "r")
    for flag, value in (("--exemplars", "1"), ("--exemplar-pool", "all")):
        argv[argv.index(flag) + 1] = value
    assert main(argv) == 0
    results = json.loads((offline / "r" / "results.json").read_text())
    assert "the exemplar pool skipped 1 unreadable image(s): broken.png (UnidentifiedImageError)" in results["warnings"]


def test_random_bytes_are_not_called_a_full_pickle(offline, capsys):
    (offline / "noise.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    assert main([*TINY, "--standard", str(offline / "noise.pt")]) == 2
    err = one_line(capsys)
    assert "noise.pt is not a checkpoint torch can read" in err and "--trust-pickle" not in err


def _safetensors(path: Path, state: dict) -> None:
    """The safetensors layout by hand (8-byte header length, JSON header, raw little-endian data)."""
    header, blobs, offset = {}, [], 0
    for name, t in state.items():
        data = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def test_a_safetensors_file_is_loaded_where_the_package_is_installed(offline, capsys, monkeypatch):
    state = {
        k: v.float() for k, v in torch.load(zoo.builtin_weights_path("fashion-standard"), weights_only=True).items()
    }
    _safetensors(offline / "m.safetensors", state)
    monkeypatch.setitem(sys.modules, "safetensors", None)  # not installed
    assert main([*TINY, "--standard", str(offline / "m.safetensors")]) == 2
    err = one_line(capsys)
    assert "m.safetensors is a safetensors file and the safetensors package is not installed" in err
    assert "pip install safetensors" in err
    package = type(sys)("safetensors")
    package.torch = type(sys)("safetensors.torch")
    package.torch.load_file = lambda path, device: dict(state)  # what the package returns: the tensors
    monkeypatch.setitem(sys.modules, "safetensors", package)
    monkeypatch.setitem(sys.modules, "safetensors.torch", package.torch)
    assert load_model(str(offline / "m.safetensors")).arch == "fashion_resnet"


def test_a_foreign_out_folder_is_not_called_a_finished_run(offline, capsys):
    (offline / "mine").mkdir()
    (offline / "mine" / "thesis.tex").write_text("mine")
    assert main([*TINY, "--out", "mine"]) == 2
    err = one_line(capsys)
    assert "output folder mine is not empty and holds no rnnviz run" in err and "finished" not in err
    assert sorted(p.name for p in (offline / "mine").iterdir()) == ["thesis.tex"]


def test_a_replica_without_the_run_layers_is_named(offline, capsys):
    argv = [*TINY, "--replicate", "builtin:fashion-vgg-standard,builtin:fashion-vgg-robust"]
    assert main(argv) == 2
    err = one_line(capsys)
    assert "--replicate model builtin:fashion-vgg-standard (fashion_vgg) lacks a layer the run analyses" in err
    assert "unknown layer 'relu'" in err


def test_the_same_model_twice_runs_with_a_warning(offline, capsys):
    argv = [a for a in TINY if a != "--quiet"] + ["--robust", "builtin:fashion-standard", "--out", "r"]
    assert main(argv) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rnnviz-report:")]
    assert len(err) == 1 and "the standard and robust models are the same weights (builtin:fashion-standard" in err[0]
    results = json.loads((offline / "r" / "results.json").read_text())
    assert any("are the same weights" in w for w in results["warnings"])
