"""Train and evaluate the built-in Fashion-MNIST pair, and build the shipped test sample.

    python -m rnnviz.pipeline.train_builtin --mode standard          # -> rnnviz/models/zoo/fashion-standard.pt
    python -m rnnviz.pipeline.train_builtin --mode robust            # FGSM + random start (Wong et al. 2020)
    python -m rnnviz.pipeline.train_builtin --net vgg --mode robust  # -> rnnviz/models/zoo/fashion-vgg-robust.pt
    python -m rnnviz.pipeline.train_builtin --make-sample            # -> rnnviz/models/zoo/fashion_sample.npz
    python -m rnnviz.pipeline.train_builtin --mode robust --seed 1   # -> rnnviz/models/zoo/fashion-robust-seed1.pt
    python -m rnnviz.pipeline.train_builtin --mode robust --eps 0.2  # -> rnnviz/models/zoo/fashion-robust-eps0.2.pt

Seeded end to end (initialization, data order, random starts), so the same seed,
device and versions give the same weights. Everything the engine later measures is
measured here the same way, with the engine's own attacks (``rnnviz.sweep.attacks``): RGB input in
[0, 1], eps in the same units.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rnnviz.common.errors import UsageError
from rnnviz.common.files import atomic_path, sha256_file
from rnnviz.models.zoo import BUILTIN_NETS, NETS, SAMPLE_PATH, ZOO_DIR, builtin_weights_path, load_fashion_sample
from rnnviz.sweep.attacks import PGDSettings, fgsm, input_gradient, pgd
from rnnviz.sweep.draws import Starts

DEFAULT_DATA = Path("/usr/share/datasets/fashion-mnist")
SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
EPS = 0.1
PGD_STEPS = 20


def read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped idx file: two zero bytes, a dtype code (0x08 = uint8), the rank, then big-endian dims."""
    data = gzip.decompress(path.read_bytes())
    if data[:2] != b"\0\0" or data[2] != 0x08:
        raise UsageError(f"{path} is not a uint8 idx file; pass --data with the original Fashion-MNIST files")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 28, 28) and labels int64 (N,) of the 'train' or 'test' split."""
    paths = [Path(data_dir) / name for name in SPLITS[split]]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise UsageError(
            f"Fashion-MNIST file not found: {missing[0]}; run `apt-get install dataset-fashion-mnist` "
            "or pass --data DIR holding the four idx .gz files"
        )
    images, labels = (read_idx(p) for p in paths)
    return images, labels.astype(np.int64)


def as_rgb(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 3, 28, 28) in [0, 1]: the engine's pixel contract."""
    return torch.tensor(images, dtype=torch.float32).div_(255).unsqueeze(1).expand(-1, 3, -1, -1)


def fgsm_rs(model, x, y, eps: float, generator: torch.Generator, step: float = 1.25) -> torch.Tensor:
    """Wong et al. 2020: a uniform random start in the eps-ball, then one signed step of ``step`` eps."""
    delta = (torch.rand(x.shape, generator=generator) * 2 - 1) * eps
    start = (x + delta).clamp(0, 1)
    grad, _ = input_gradient(model, start, y)
    delta = (start - x + step * eps * grad.sign()).clamp(-eps, eps)
    return (x + delta).clamp(0, 1)


@dataclass(frozen=True)
class TrainingRecipe:
    """How a built-in net is trained: ``mode`` standard or robust (FGSM-RS adversarial training),
    ``epochs``, the ``seed`` of the data order and the random starts, SGD's batch size and peak
    learning rate, and robust mode's eps and FGSM-RS step (in units of eps)."""

    mode: str
    epochs: int
    seed: int
    batch_size: int = 128
    lr: float = 0.1
    eps: float = EPS
    fgsm_step: float = 1.25


def fit(model, images: np.ndarray, labels: np.ndarray, recipe: TrainingRecipe, *, log=print) -> list[float]:
    """SGD (Nesterov, wd 5e-4) with a one-cycle LR; returns the mean training loss of each epoch.

    Robust mode guards against catastrophic overfitting (Wong et al. 2020, section 5): after each
    epoch, PGD-10 accuracy on a fixed batch of 500 training images; if it falls 20 points below
    the best so far, the best epoch's weights are restored and training stops.
    """
    mode, epochs, batch_size, lr, eps = recipe.mode, recipe.epochs, recipe.batch_size, recipe.lr, recipe.eps
    x, y = as_rgb(images), torch.from_numpy(labels)
    n = len(y)
    generator = torch.Generator().manual_seed(recipe.seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * math.ceil(n / batch_size))
    losses: list[float] = []
    guard = _Guard(model, x[:500], y[:500], eps) if mode == "robust" else None
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        loss_sum = correct = 0.0
        for idx in torch.randperm(n, generator=generator).split(batch_size):
            xb, yb = x[idx], y[idx]
            if mode == "robust":
                xb = fgsm_rs(model, xb, yb, eps, generator, recipe.fgsm_step)
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            correct += (out.argmax(1) == yb).sum().item()
        losses.append(loss_sum / n)
        log(
            f"epoch {epoch}/{epochs}  loss {losses[-1]:.4f}  train acc {correct / n:.4f}  "
            f"({time.perf_counter() - start:.1f} s)"
        )
        if guard is not None and guard.collapsed(epoch, log):
            break
    return losses


class _Guard:
    """Early stopping on PGD accuracy of a fixed batch: the check for catastrophic overfitting."""

    def __init__(self, model, x, y, eps: float):
        self.model, self.x, self.y, self.eps = model, x, y, eps
        self.best: float = -1.0
        self.best_state: dict | None = None

    def collapsed(self, epoch: int, log) -> bool:
        self.model.eval()
        starts = Starts(generator=torch.Generator().manual_seed(0))
        adv = pgd(self.model, self.x, self.y, self.eps, PGDSettings(steps=10), starts)
        with torch.no_grad():
            acc = (self.model(adv).argmax(1) == self.y).float().mean().item()
        self.model.train()
        log(f"  epoch {epoch}: PGD-10 accuracy on 500 training images {acc:.3f}")
        if acc > self.best:
            self.best, self.best_state = acc, {k: v.clone() for k, v in self.model.state_dict().items()}
            return False
        if acc < self.best - 0.2:
            log(f"  catastrophic overfitting: PGD accuracy fell from {self.best:.3f}; restoring the best epoch")
            self.model.load_state_dict(self.best_state)
            return True
        return False


def evaluate(
    model,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    eps: float = EPS,
    pgd_steps: int = PGD_STEPS,
    seed: int = 0,
    batch_size: int = 500,
) -> dict:
    """Clean, FGSM and PGD accuracy in eval mode, with true labels and a seeded PGD start."""
    model.eval()
    starts = Starts(generator=torch.Generator().manual_seed(seed))
    hits = {"clean": 0, "fgsm": 0, "pgd": 0}
    for xb, yb in zip(as_rgb(images).split(batch_size), torch.from_numpy(labels).split(batch_size)):
        with torch.no_grad():
            hits["clean"] += (model(xb).argmax(1) == yb).sum().item()
        advs = (
            ("fgsm", fgsm(model, xb, yb, eps)),
            ("pgd", pgd(model, xb, yb, eps, PGDSettings(steps=pgd_steps), starts)),
        )
        for name, adv in advs:
            with torch.no_grad():
                hits[name] += (model(adv).argmax(1) == yb).sum().item()
    n = len(labels)
    return {
        "n": n,
        "eps": eps,
        "clean": hits["clean"] / n,
        "fgsm": hits["fgsm"] / n,
        f"pgd{pgd_steps}": hits["pgd"] / n,
    }


def make_sample(images: np.ndarray, labels: np.ndarray, per_class: int = 100, seed: int = 0):
    """A class-balanced subset; kept in test-set order, so any prefix of it mixes the classes."""
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)]
    idx = np.sort(np.concatenate(picks))
    return images[idx], labels[idx]


def save_sample(data_dir: Path, out: Path, seed: int) -> None:
    images, labels = make_sample(*load_split(data_dir, "test"), seed=seed)
    with atomic_path(out) as tmp, open(tmp, "wb") as f:  # a file object: numpy adds no ".npz"
        np.savez_compressed(f, images=images, labels=labels)
    print(f"wrote {out}: {len(labels)} images, classes {np.bincount(labels).tolist()}")


def save_weights(model, out: Path) -> None:
    """A plain state_dict; saved through a file object so the archive name (and sha256) ignores the temp name."""
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        torch.save(model.state_dict(), f)


def output_name(net: str, mode: str, *, seed: int = 0, eps: float = EPS) -> str:
    """The built-in name a training writes: ``fashion-robust``; another training eps adds
    ``-eps{eps:g}`` (``fashion-robust-eps0.2``, a rung of the robustness ladder) and another seed
    ``-seed{seed}``, so no variant overwrites the shipped seed-0, eps-0.1 weights."""
    name = f"{NETS[net]}-{mode}"
    if eps != EPS:
        name += f"-eps{eps:g}"
    return name if seed == 0 else f"{name}-seed{seed}"


def default_out(args) -> Path:
    """The file of ``output_name``: the shipped file where the name is a built-in, else one beside them."""
    name = output_name(args.net, args.mode, seed=args.seed, eps=args.eps)
    return builtin_weights_path(name) if name in BUILTIN_NETS else ZOO_DIR / f"{name}.pt"


def train(args, images: np.ndarray, labels: np.ndarray, log=print, batch_size: int = 128):
    """The net of ``--net``/``--mode`` initialized from ``--seed`` and trained on ``images``: the same
    seed, device and versions give the same weights."""
    torch.manual_seed(args.seed)
    pixels = images.astype(np.float64) / 255
    model = BUILTIN_NETS[f"{NETS[args.net]}-{args.mode}"][0](mean=pixels.mean(), std=pixels.std())
    recipe = TrainingRecipe(
        args.mode, args.epochs, args.seed, batch_size=batch_size, eps=args.eps, fgsm_step=args.fgsm_step
    )
    fit(model, images, labels, recipe, log=log)
    return model


def train_and_report(args) -> None:
    train_images, train_labels = load_split(args.data, "train")
    test_images, test_labels = load_split(args.data, "test")
    start = time.perf_counter()
    model = train(args, train_images, train_labels)
    train_s = time.perf_counter() - start
    print(f"trained {args.mode} in {train_s:.1f} s")
    out = args.out or default_out(args)
    save_weights(model, out)
    report = {
        "net": args.net,
        "mode": args.mode,
        "epochs": args.epochs,
        "seed": args.seed,
        "eps": args.eps,
        "fgsm_step": args.fgsm_step,
        "train_s": round(train_s, 1),
        "weights": str(out),
        "sha256": sha256_file(out),
    }
    print(json.dumps(report, indent=2), flush=True)  # the weights are kept even if the evaluation is stopped
    # the sample first: a quick look (catastrophic overfitting?) long before the full test set's figures
    sets = ({"sample": load_fashion_sample()} if SAMPLE_PATH.is_file() else {}) | {"test": (test_images, test_labels)}
    for name, (images, labels) in sets.items():
        for suffix, eps in evaluation_eps(args.eps).items():
            report[name + suffix] = evaluate(model, images, labels, eps=eps, seed=args.seed)
            print(json.dumps({name + suffix: report[name + suffix]}), flush=True)
    print(json.dumps(report, indent=2))


def evaluation_eps(train_eps: float) -> dict[str, float]:
    """The eps the script measures at, by report-key suffix: the model card's column eps and, for
    another training eps, that eps too (``test`` and ``test@0.2``)."""
    return {"": EPS} | ({f"@{train_eps:g}": train_eps} if train_eps != EPS else {})


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m rnnviz.pipeline.train_builtin", description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=("standard", "robust"), help="plain or FGSM-RS adversarial training")
    p.add_argument("--net", choices=sorted(NETS), default="resnet", help="which built-in net (default: resnet)")
    p.add_argument("--make-sample", action="store_true", help="build the shipped 1000-image test sample instead")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with the four Fashion-MNIST idx .gz files")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--out", type=Path, help="output file (default: the shipped file in rnnviz/models/zoo/)")
    p.add_argument("--seed", type=int, default=0, help="seeds init, data order, random starts; N>0: NAME-seedN.pt")
    p.add_argument("--fgsm-step", type=float, default=1.25, help="FGSM-RS step in units of eps (default 1.25)")
    p.add_argument(
        "--eps", type=float, default=EPS, help=f"robust mode's training eps in [0, 1] pixel units (default {EPS:g})"
    )
    args = p.parse_args(argv)
    if not args.make_sample and args.mode is None:
        p.error("give --mode standard|robust, or --make-sample")
    if args.eps != EPS and args.mode != "robust":
        p.error("--eps is robust mode's training eps; give --mode robust, or leave --eps out")
    if not 0 < args.eps <= 1:
        p.error(f"--eps {args.eps:g} is outside (0, 1]; give a pixel-unit eps such as 0.05 or 0.2")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.make_sample:
            save_sample(args.data, args.out or SAMPLE_PATH, args.seed)
        else:
            train_and_report(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
