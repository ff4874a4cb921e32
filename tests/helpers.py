"""Small models and images the engine tests share (random init, no downloads)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from rnnviz.models.loading import LoadedModel, add_input_normalization, freeze
from rnnviz.models.zoo.net import FashionResNet
from rnnviz.sweep.settings import SweepSettings

N_CLASSES = 10


def tiny_resnet(seed: int = 0) -> LoadedModel:
    """A random-init 4-stage ResNet of BasicBlocks (widths 16-128, 10 classes, ~0.7 M parameters):
    the built-in pair's architecture, small enough that a test forward takes milliseconds."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = FashionResNet()
    from rnnviz.models.labels import fashion_labels

    return LoadedModel(
        freeze(net),
        name=f"tiny resnet (seed {seed})",
        arch="fashion_resnet",
        sha256=f"tiny-{seed}",
        labels=fashion_labels(),
        input_size=28,
        resize=None,
        grayscale=True,
    )


def images(n: int = 6, size: int = 28, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g), torch.randint(0, N_CLASSES, (n,), generator=g)


def sweep(eps, layers, **kw) -> SweepSettings:
    return SweepSettings(eps=eps, layers=layers, **kw)


class TwoLayerNet(nn.Module):
    """Hand-computable: a per-channel 1x1 conv (weights 2, -1, 0.5), ReLU, mean pool, linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1, groups=3, bias=False)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(3, 2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([2.0, -1.0, 0.5]).view(3, 1, 1, 1))
            self.fc.weight.copy_(torch.tensor([[1.0, -1.0, 1.0], [-1.0, 1.0, -1.0]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(self.relu(self.conv(x)).mean((2, 3)))


def no_hooks(module: nn.Module) -> bool:
    """True when no module holds a forward/backward hook (the root's normalization pre-hook aside)."""
    for name, m in module.named_modules():
        pre = len(m._forward_pre_hooks) - (1 if name == "" and hasattr(m, "input_normalize") else 0)
        if m._forward_hooks or pre or m._backward_hooks:
            return False
    return True


__all__ = ["TwoLayerNet", "add_input_normalization", "freeze", "images", "no_hooks", "sweep", "tiny_resnet"]


def undeclared_keys(value, node=None, path: str = "") -> list[str]:
    """Keys of a results.json that rnnviz/results/schema.json does not declare (it should declare
    every key the engine writes, though most objects accept more)."""
    from rnnviz.results.schema import resolve, schema

    node = resolve(schema() if node is None else node)
    found = []
    if isinstance(value, dict):
        for name, item in value.items():
            child = node.get("properties", {}).get(name, node.get("additionalProperties"))
            if not isinstance(child, dict):
                found.append(f"{path}.{name}".lstrip("."))
            else:
                found += undeclared_keys(item, child, f"{path}.{name}")
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for j, item in enumerate(value):
            found += undeclared_keys(item, node["items"], f"{path}[{j}]")
    return found


# rnnviz-report in a child process that prints its peak RSS (VmHWM) last, whatever the exit
_CLI_CHILD = """
import sys
from rnnviz.cli import main
try:
    code = main(sys.argv[1:])
finally:
    peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
    print("peak-kB", peak.split()[1])
sys.exit(code)
"""


def run_cli_child(argv: list[str], cwd: Path | None = None, **env: str) -> tuple[int, list[str], float]:
    """(exit code, stderr lines, peak RSS in MB) of ``rnnviz-report argv`` in a fresh process."""
    repo = Path(__file__).resolve().parents[1]
    run = subprocess.run(
        [sys.executable, "-c", _CLI_CHILD, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(repo), **env},
        timeout=600,
    )
    peak_kb = next(int(line.split()[1]) for line in run.stdout.splitlines() if line.startswith("peak-kB"))
    return run.returncode, run.stderr.strip().splitlines(), peak_kb / 1024
