"""The ImageNet path end to end on real photographs (foolbox's 20 labelled JPEGs) with
fabricated MadryLab checkpoints of the preset's architecture placed in the cache by hand."""

import argparse
import csv
import json
import shutil
from pathlib import Path

import pytest
import torch
import torchvision

from rnnviz.cli import main
from rnnviz.models.download import cache_name
from rnnviz.settings.presets import PRESETS


def foolbox_images(dest: Path) -> Path:
    foolbox = pytest.importorskip("foolbox")
    src = Path(foolbox.__file__).parent / "data"
    dest.mkdir()
    with open(dest / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label"])
        for jpg in sorted(src.glob("imagenet_*.jpg")):
            shutil.copy(jpg, dest / jpg.name)
            writer.writerow([jpg.name, jpg.stem.rsplit("_", 1)[1]])
    return dest


def madry_file(path: Path, seed: int) -> None:
    """Random ResNet-18 weights in MadryLab's robustness layout, as a full pickle (args inside)."""
    torch.manual_seed(seed)
    net = torchvision.models.resnet18(weights=None)
    sd = {
        "module.normalizer.new_mean": torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1),
        "module.normalizer.new_std": torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1),
    }
    sd.update({f"module.model.{k}": v for k, v in net.state_dict().items()})
    sd.update({f"module.attacker.model.{k}": v for k, v in net.state_dict().items()})
    torch.save({"model": sd, "epoch": 89, "args": argparse.Namespace(arch="resnet18")}, path)


# the stages after the attack (slow at 224 px on a CPU) are test_cli's end-to-end run's to cover
ATTACK_AND_REPORT_ONLY = ["--exemplars", "0", "--patch", "none", "--no-transfer", "--fgsm-grid", "0", "--no-pdf"]


@pytest.fixture
def imagenet_r18_cache(offline):
    tmp_path = offline
    weights = tmp_path / "cache" / "weights"
    weights.mkdir(parents=True)
    preset = PRESETS["imagenet-r18"]
    for seed, url in enumerate((preset.standard, preset.robust)):
        (weights / cache_name(url)).parent.mkdir(parents=True)
        madry_file(weights / cache_name(url), seed)
    return tmp_path


@pytest.mark.slow  # a ResNet-18 at 224 px through every stage: make test-all
def test_imagenet_preset_runs_on_real_photos(imagenet_r18_cache, capsys):
    """Preset, pickle checkpoints and real photos through the attack and the report."""
    data = foolbox_images(imagenet_r18_cache / "photos")
    out = imagenet_r18_cache / "report"
    rc = main(
        [
            "--preset",
            "imagenet-r18",
            "--classes",
            "jeep,n02006656,99",
            "--eps",
            "0,1/255,4/255",
            "--data",
            str(data),
            "--trust-pickle",
            "--quality",
            "none",
            "--n-images",
            "4",
            "--top-k",
            "3",
            "--out",
            str(out),
            "--quiet",
            *ATTACK_AND_REPORT_ONLY,
        ]
    )
    assert rc == 0, capsys.readouterr().err
    r = json.loads((out / "results.json").read_text())
    assert [c["index"] for c in r["classes"]] == [609, 129, 99]
    assert [c["n_images"] for c in r["classes"]] == [2, 1, 1]
    assert r["config"]["eps_labels"] == ["0", "1/255", "4/255"]
    assert r["config"]["eps_255"] == ["0/255", "1/255", "4/255"]
    assert all(m["pickle_used"] and m["arch"] == "resnet18" for m in r["models"].values())
    assert any("--trust-pickle" in w for w in r["warnings"])
    assert (out / "report.html").is_file()


def test_preset_pickle_without_trust_is_refused(imagenet_r18_cache, capsys):
    data = foolbox_images(imagenet_r18_cache / "photos")
    rc = main(["--preset", "imagenet-r18", "--classes", "jeep", "--data", str(data), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "--trust-pickle" in err and len(err.strip().splitlines()) == 1


def test_preset_missing_weights_names_file_and_path(offline, capsys):
    tmp_path = offline
    (tmp_path / "photos" / "flamingo").mkdir(parents=True)
    rc = main(["--classes", "flamingo", "--eps", "0,0.01,0.1", "--data", str(tmp_path / "photos")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "resnet50_l2_eps0.ckpt" in err and str(tmp_path / "cache" / "weights") in err and "--preset fashion" in err


MADRY_TWINS = [name for name, p in PRESETS.items() if p.threat_model == "L2 eps 3" and not p.ladder]


def test_every_madrylab_twin_preset_says_arch_accuracy_and_threat_model():
    assert len(MADRY_TWINS) == 8
    for name in MADRY_TWINS:
        p = PRESETS[name]
        assert p.standard.endswith("_l2_eps0.ckpt") and p.robust.endswith("_l2_eps3.ckpt")
        assert p.arch and p.published[0] > p.published[1] > 40


@pytest.mark.parametrize("preset", MADRY_TWINS)
def test_twin_preset_offline_names_file_url_and_place(preset, offline, capsys):
    (offline / "photos" / "flamingo").mkdir(parents=True)
    rc = main(["--preset", preset, "--classes", "flamingo", "--data", str(offline / "photos")])
    err = capsys.readouterr().err.strip()
    url = PRESETS[preset].standard
    assert rc == 2 and len(err.splitlines()) == 1
    assert url in err and url.rsplit("/", 1)[1] in err and str(offline / "cache" / "weights") in err


@pytest.mark.slow  # a MobileNet at 224 px through every stage: make test-all
def test_mobilenet_twin_preset_runs_on_real_photos(offline, capsys):
    """Random MobileNet-v2 weights in MadryLab's layout under the preset's file names."""
    weights = offline / "cache" / "weights"
    weights.mkdir(parents=True)
    preset = PRESETS["imagenet-mobilenet"]
    for seed, url in enumerate((preset.standard, preset.robust)):
        torch.manual_seed(seed)
        net = torchvision.models.mobilenet_v2(weights=None)
        sd = {
            "module.normalizer.new_mean": torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1),
            "module.normalizer.new_std": torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1),
        }
        sd.update({f"module.model.{k}": v for k, v in net.state_dict().items()})
        sd.update({f"module.attacker.model.{k}": v for k, v in net.state_dict().items()})
        (weights / cache_name(url)).parent.mkdir(parents=True)
        torch.save({"model": sd, "epoch": 89}, weights / cache_name(url))
    data = foolbox_images(offline / "photos")
    out = offline / "report"
    rc = main(
        [
            "--preset",
            "imagenet-mobilenet",
            "--classes",
            "jeep",
            "--eps",
            "0,1/255",
            "--data",
            str(data),
            "--quality",
            "none",
            "--n-images",
            "2",
            "--top-k",
            "2",
            "--out",
            str(out),
            "--quiet",
            *ATTACK_AND_REPORT_ONLY,
        ]
    )
    assert rc == 0, capsys.readouterr().err
    r = json.loads((out / "results.json").read_text())
    assert all(m["arch"] == "mobilenet_v2" for m in r["models"].values())
    assert r["config"]["layers"][:3] == ["features.0", "features.1", "features.3"]
