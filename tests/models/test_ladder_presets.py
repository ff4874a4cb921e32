"""Ladder presets: models of one architecture in increasing training eps, each of which must load
(the built-in rungs from the package, the MadryLab rungs from the weights cache, offline)."""

import os

import pytest
import torch
from test_imagenet import madry_file

from rnnviz.common.files import sha256_file
from rnnviz.models import zoo
from rnnviz.models.download import cache_name, fetch_checkpoint, url_file_name
from rnnviz.models.loading import load_model
from rnnviz.pipeline import train_builtin as train
from rnnviz.settings.presets import MADRY_URL, PRESETS

LADDERS = sorted(name for name, p in PRESETS.items() if p.ladder)
IMAGENET_LADDERS = [name for name in LADDERS if name.startswith("imagenet-")]


def test_the_three_ladders_are_presets():
    assert LADDERS == ["fashion-ladder", "imagenet-ladder-l2", "imagenet-ladder-linf"]


@pytest.mark.parametrize("name", LADDERS)
def test_rungs_rise_from_zero_and_the_pair_is_the_first_and_last(name):
    p = PRESETS[name]
    eps = [r.train_eps for r in p.ladder]
    assert eps[0] == 0 and all(a < b for a, b in zip(eps, eps[1:])), eps
    assert (p.standard, p.robust) == (p.ladder[0].spec, p.ladder[-1].spec)
    assert p.train_eps == p.ladder[-1].train_eps
    ends = (p.ladder[0].published, p.ladder[-1].published)
    assert p.published == (None if None in ends else ends)
    assert len({r.spec for r in p.ladder}) == len(p.ladder)


def test_pair_presets_have_no_ladder():
    assert all(PRESETS[name].ladder == () for name in ("fashion", "fashion-seeds", "imagenet", "imagenet-r18"))


def test_fashion_ladder_is_the_fashion_pair_with_rungs_between_and_beyond():
    ladder, pair = PRESETS["fashion-ladder"], PRESETS["fashion"]
    assert (ladder.data, ladder.classes, ladder.eps, ladder.arch) == (pair.data, pair.classes, pair.eps, pair.arch)
    assert [r.spec for r in ladder.ladder][::2] == [pair.standard, pair.robust]
    assert [r.train_eps for r in ladder.ladder] == [0, 0.05, pair.train_eps, 0.2]
    assert [r.published for r in ladder.ladder][::2] == list(pair.published)


@pytest.mark.parametrize("rung", PRESETS["fashion-ladder"].ladder, ids=lambda r: r.spec)
def test_fashion_rungs_are_shipped_and_load(rung):
    name = rung.spec.removeprefix("builtin:")
    assert sha256_file(zoo.builtin_weights_path(name)) == zoo.BUILTIN_SHA256[name]
    model = load_model(rung.spec)
    assert model.arch == "fashion_resnet" and model.sha256 == zoo.BUILTIN_SHA256[name]
    with torch.no_grad():
        assert model.module(torch.rand(2, 3, 28, 28)).shape == (2, 10)


def test_imagenet_ladders_name_madrylab_files_as_published():
    """The file names spell eps as robust-models-transfer's download tables do."""
    l2 = [url_file_name(r.spec) for r in PRESETS["imagenet-ladder-l2"].ladder]
    assert [f.removeprefix("resnet50_l2_eps").removesuffix(".ckpt") for f in l2] == [
        *("0", "0.01", "0.03", "0.05", "0.1", "0.25", "0.5", "1", "3")
    ]
    linf = [url_file_name(r.spec) for r in PRESETS["imagenet-ladder-linf"].ladder]
    assert linf[0] == "resnet50_l2_eps0.ckpt"
    assert linf[1:] == [f"resnet50_linf_eps{e}.ckpt" for e in ("0.5", "1.0", "2.0", "4.0", "8.0")]
    assert [r.train_eps * 255 for r in PRESETS["imagenet-ladder-linf"].ladder] == pytest.approx([0, 0.5, 1, 2, 4, 8])
    rungs = [r for name in IMAGENET_LADDERS for r in PRESETS[name].ladder]
    assert all(r.spec.startswith(MADRY_URL) and r.published is not None for r in rungs)
    assert PRESETS["imagenet-ladder-linf"].ladder[4].spec == PRESETS["imagenet"].robust  # Linf 4/255


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """One random ResNet-18 in MadryLab's layout (a full pickle), placed under every rung's name."""
    path = tmp_path_factory.mktemp("madry") / "resnet.ckpt"
    madry_file(path, seed=0)
    return path


@pytest.mark.parametrize("name", IMAGENET_LADDERS)
def test_every_imagenet_rung_loads_from_the_cache_without_network(name, crafted, offline):
    weights = offline / "cache" / "weights"
    ladder = PRESETS[name].ladder
    for rung in ladder:
        placed = weights / cache_name(rung.spec)
        placed.parent.mkdir(parents=True, exist_ok=True)
        os.link(crafted, placed)  # one file under every name: the test is the name -> cache path
        assert fetch_checkpoint(rung.spec) == placed
    model = load_model(ladder[-1].spec, trust_pickle=True)  # one rung all the way (the others are this file)
    assert model.pickle_used and model.arch == "resnet18" and model.sha256 == sha256_file(crafted)
    with torch.no_grad():
        assert model.module(torch.rand(1, 3, 64, 64)).shape == (1, 1000)


def test_train_eps_names_the_rung():
    assert train.output_name("resnet", "robust") == "fashion-robust"
    assert train.output_name("resnet", "robust", eps=0.05) == "fashion-robust-eps0.05"
    assert train.output_name("resnet", "robust", eps=0.2) == "fashion-robust-eps0.2"
    assert train.output_name("resnet", "robust", eps=0.2, seed=1) == "fashion-robust-eps0.2-seed1"
    assert train.output_name("vgg", "robust", eps=0.3) == "fashion-vgg-robust-eps0.3"
    args = train.parse_args(["--mode", "robust", "--eps", "0.2"])
    assert train.default_out(args) == zoo.builtin_weights_path("fashion-robust-eps0.2")
    assert train.default_out(train.parse_args(["--mode", "robust"])) == zoo.builtin_weights_path("fashion-robust")
    assert train.default_out(train.parse_args(["--mode", "robust", "--eps", "0.3"])) == (
        zoo.ZOO_DIR / "fashion-robust-eps0.3.pt"
    )


def test_train_eps_is_robust_modes_and_in_range(capsys):
    for argv in (["--mode", "standard", "--eps", "0.2"], ["--mode", "robust", "--eps", "0"]):
        with pytest.raises(SystemExit):
            train.parse_args(argv)
        assert "--eps" in capsys.readouterr().err
    assert train.parse_args(["--mode", "standard"]).eps == train.EPS


def test_train_eps_reaches_the_recipe_and_the_evaluation():
    """A short run at another eps trains with it; the script measures at the card's eps and its own."""
    images, labels = zoo.load_fashion_sample()
    seen = []
    real = train.fgsm_rs

    def spy(model, x, y, eps, generator, step=1.25):
        seen.append(eps)
        return real(model, x, y, eps, generator, step)

    args = train.parse_args(["--mode", "robust", "--eps", "0.2", "--epochs", "1"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(train, "fgsm_rs", spy)
        train.train(args, images[:32], labels[:32], log=lambda _: None, batch_size=16)
    assert seen == [0.2, 0.2]
    assert train.evaluation_eps(0.2) == {"": 0.1, "@0.2": 0.2}
    assert train.evaluation_eps(train.EPS) == {"": 0.1}
