"""Bounds on ``random:ARCH@SIZE``: the smallest input the architecture can really see and the
largest one whose activations fit in memory, both found before a parameter is allocated.

``@0`` once failed later as an unreadable image, ``@1`` ran on one-pixel inputs without a word,
``@100000`` tried to allocate 120 GB. The network is built on the meta device (shapes only, no
memory), and one forward pass there measures what a real one would hold: every module's output
plus the attention weights ``nn.MultiheadAttention`` keeps (a Vision Transformer's L x L per head).
"""

from __future__ import annotations

import os

import torch
from torch import nn

from rnnviz.common.errors import UsageError

BYTES_PER_VALUE = 4  # float32
BACKWARD = 3  # activations, their gradients and the attack's copies of the batch (a generous factor)
PROBE = 224  # the size the downsampling factor is measured at
MAX_SIZE = 4096  # larger than any classifier's training size by far


def check_input_size(arch: str, size: int, build) -> None:
    """Refuse ``@size`` for ``arch`` unless the network can take it and one image's activations fit
    in memory. ``build(image_size)`` makes the network (only a ViT reads ``image_size``)."""
    spec = f"random:{arch}@{size}"
    if not 1 <= size <= MAX_SIZE:
        raise UsageError(f"input size @{size} in {spec} is outside 1..{MAX_SIZE} pixels; e.g. random:{arch}@224")
    patch = getattr(_meta_net(build, PROBE), "patch_size", None)
    if patch is not None and size % patch:
        raise UsageError(
            f"{spec}: a Vision Transformer takes multiples of its {patch} px patch; "
            f"e.g. @{max(patch, size - size % patch)}"
        )
    smallest = patch or _downsampling(build)
    if size < smallest:
        raise UsageError(
            f"{spec}: {arch} shrinks its input {smallest}-fold, so @{size} leaves its last layers less than "
            f"one pixel of image; give @{smallest} or more (224 is its usual size)"
        )
    need = activation_bytes(build, size) * BACKWARD
    free = available_memory()
    if free is not None and need > free:
        raise UsageError(
            f"{spec}: one image at {size} px needs about {need / 1e9:.1f} GB of activations, more than the "
            f"{free / 1e9:.1f} GB available; choose a smaller @SIZE"
        )


def activation_bytes(build, size: int) -> int:
    """Bytes of every module output and attention-weight matrix in one forward pass of one image."""
    total = 0

    def count(module: nn.Module, inputs, output) -> None:
        nonlocal total
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor):
                total += t.numel() * BYTES_PER_VALUE
        if isinstance(module, nn.MultiheadAttention) and inputs:
            length = inputs[0].shape[1] if module.batch_first else inputs[0].shape[0]
            total += module.num_heads * length * length * BYTES_PER_VALUE

    _forward(build, size, count)
    return total


def _downsampling(build) -> int:
    """How many times the network shrinks its input: PROBE over the smallest feature map's side.

    A global pooling's 1 x 1 output, and what is computed from it (squeeze-and-excitation's 1 x 1
    convolutions, a classifier head kept as a 4-d map, ConvNeXt's norm after the pool), is no feature
    map: where a global pooling makes a 1-pixel map, 1-pixel outputs are not counted."""
    sides: list[int] = []
    pooled_to_one = False

    def side(module: nn.Module, inputs, output) -> None:
        nonlocal pooled_to_one
        if not (isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[-1] > 0):
            return
        if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):  # fixed output: no stride
            pooled_to_one |= min(output.shape[-2:]) == 1
        else:
            sides.append(int(min(output.shape[-2:])))

    _forward(build, PROBE, side)
    maps = [s for s in sides if s > 1] if pooled_to_one else sides
    return PROBE // min(maps) if maps else 1


def _forward(build, size: int, hook) -> None:
    net = _meta_net(build, size).eval()

    def run() -> None:
        handles = [m.register_forward_hook(hook) for m in net.modules() if m is not net]
        with torch.no_grad():
            net(torch.zeros(1, 3, size, size))
        for h in handles:
            h.remove()

    _on_meta(run)


def _on_meta(make):
    with torch.device("meta"):
        return make()


def _meta_net(build, size: int) -> nn.Module:
    """The network with shapes only. A family that computes its widths from tensor values while it
    is built (RegNet's ``BlockParams``) cannot be built on the meta device: it is built on the CPU
    and moved there (its weights are allocated once, briefly; its activations never are)."""
    try:
        return _on_meta(lambda: build(size))
    except NotImplementedError:
        return build(size).to("meta")


MEMORY_ENV = "RNNVIZ_MEMORY_MB"  # the memory a run may count on, where the machine's own figure misleads


def available_memory() -> int | None:
    """``RNNVIZ_MEMORY_MB`` if set (a container's share, a machine shared with others, a test), else
    MemAvailable from /proc/meminfo, in bytes (None where there is none: not Linux)."""
    override = os.environ.get(MEMORY_ENV, "").strip()
    if override:
        try:
            return int(float(override) * 1e6)
        except ValueError:
            raise UsageError(
                f"{MEMORY_ENV}={override!r} is not a number of megabytes; e.g. {MEMORY_ENV}=4000"
            ) from None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
