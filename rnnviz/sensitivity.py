"""Channel sensitivity (Zhang et al., IEEE TIP 2021), accumulated as running sums.

For layer l, channel m, over N images x_i with adversarial x'_i::

    sigma(l, m) = 1/N * sum_i  1/dim(F(x_i)) * || F(x_i) - F(x'_i) ||_1

with F the channel's activation map (dim = H * W for a conv channel, 1 for a linear unit).
``LayerRecorder`` captures activations from the forward passes the attack already makes;
``SensitivityMeter`` folds each batch into per-channel sums, so memory does not grow
with N and channel indices are never lost.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


class LayerRecorder:
    """Forward hooks that keep a clone of each chosen layer's output while ``active``.

    Clones, because in-place ReLUs later overwrite the tensor a hook was handed.
    """

    def __init__(self, model: nn.Module, layers: list[str]):
        self.model, self.layers = model, list(layers)
        self.outputs: dict[str, torch.Tensor] = {}
        self.active = True
        self._handles: list = []

    def _hook(self, name: str):
        def record(_module, _inputs, output):
            if self.active:
                self.outputs[name] = output.detach().clone()
        return record

    def __enter__(self) -> "LayerRecorder":
        for name in self.layers:
            self._handles.append(self.model.get_submodule(name).register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.outputs = {}

    def take(self) -> dict[str, torch.Tensor]:
        """The outputs of the last forward pass; the recorder forgets them."""
        outputs, self.outputs = self.outputs, {}
        return outputs

    @contextmanager
    def paused(self):
        """No recording inside (PGD's inner steps are not measurements)."""
        self.active = False
        try:
            yield
        finally:
            self.active = True


def channel_l1(clean: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    """Per image, per channel: mean absolute change over the channel's map -> (N, C)."""
    diff = (clean - adv).abs()
    return diff.flatten(2).mean(2) if diff.dim() > 2 else diff


def channel_mean(act: torch.Tensor) -> torch.Tensor:
    """Per image, per channel spatial mean -> (N, C): what a channel objective maximizes."""
    return act.flatten(2).mean(2) if act.dim() > 2 else act


class SensitivityMeter:
    """Running per-channel sums of ``channel_l1`` for one model at one epsilon."""

    def __init__(self, layers: list[str], neurons: list[tuple[str, int]] = ()):
        self.layers = list(layers)
        self.sums: dict[str, torch.Tensor] = {}
        self.neurons = list(neurons)
        self.neuron_sums: dict[tuple[str, int], torch.Tensor] = {}
        self.count = 0

    def add(self, clean: dict[str, torch.Tensor], adv: dict[str, torch.Tensor]) -> None:
        for name in self.layers:
            batch = channel_l1(clean[name], adv[name]).sum(0).double().cpu()
            self.sums[name] = self.sums[name] + batch if name in self.sums else batch
        for layer, ch in self.neurons:
            local = (clean[layer][:, ch] - adv[layer][:, ch]).abs().sum(0).double().cpu()
            key = (layer, ch)
            self.neuron_sums[key] = self.neuron_sums[key] + local if key in self.neuron_sums else local
        self.count += next(iter(clean.values())).shape[0] if clean else 0

    def channels(self) -> dict[str, torch.Tensor]:
        """sigma per channel, per layer (float64 vectors)."""
        return {name: s / max(self.count, 1) for name, s in self.sums.items()}

    def neuron_maps(self) -> dict[tuple[str, int], torch.Tensor]:
        """Per spatial position |dF| averaged over images, for the requested channels."""
        return {key: s / max(self.count, 1) for key, s in self.neuron_sums.items()}


def layer_means(channels: dict[str, torch.Tensor]) -> dict[str, float]:
    """Layer sensitivity: the mean of its channels' sigmas."""
    return {name: float(s.mean()) for name, s in channels.items()}


def top_channels(channels: dict[str, torch.Tensor], k: int) -> list[dict]:
    """The k most sensitive channels across all layers, with their indices kept."""
    rows = [(float(v), name, ch) for name, s in channels.items() for ch, v in enumerate(s.tolist())]
    rows.sort(key=lambda r: (-r[0], r[1], r[2]))
    return [{"layer": name, "channel": ch, "sensitivity": v} for v, name, ch in rows[:k]]
