"""The training script's --seed: one seed gives one set of weights, another seed gets its own file."""

from __future__ import annotations

import torch

from rnnviz.models.zoo import ZOO_DIR, builtin_weights_path, load_fashion_sample
from rnnviz.pipeline import train_builtin as train


def _weights(mode: str, seed: int) -> dict[str, torch.Tensor]:
    """A tiny training (64 sample images, 4 batches of 16, one epoch) with ``--seed seed``."""
    images, labels = load_fashion_sample()
    args = train.parse_args(["--mode", mode, "--seed", str(seed), "--epochs", "1"])
    model = train.train(args, images[:64], labels[:64], log=lambda _: None, batch_size=16)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_same_seed_gives_the_same_weights_and_another_seed_others():
    first = _weights("standard", 1)
    assert _same(first, _weights("standard", 1))
    assert not _same(first, _weights("standard", 2))


def test_the_same_seed_gives_the_same_weights_under_adversarial_training():
    assert _same(_weights("robust", 3), _weights("robust", 3))  # random starts are seeded too


def test_seed_zero_writes_the_shipped_file_and_another_seed_its_own():
    default = train.parse_args(["--mode", "robust"])
    assert default.seed == 0 and train.default_out(default) == builtin_weights_path("fashion-robust")
    seed1 = train.parse_args(["--mode", "standard", "--seed", "1"])
    assert train.default_out(seed1) == ZOO_DIR / "fashion-standard-seed1.pt"
    vgg = train.parse_args(["--net", "vgg", "--mode", "robust", "--seed", "7"])
    assert train.default_out(vgg) == ZOO_DIR / "fashion-vgg-robust-seed7.pt"
