"""Channel sensitivity (Zhang et al., IEEE TIP 2021), accumulated as running sums.

For layer l, channel m, over N images x_i with adversarial x'_i::

    sigma(l, m) = 1/N * sum_i  1/dim(F(x_i)) * || F(x_i) - F(x'_i) ||_1

with F the channel's activation map (dim = H * W for a conv channel, 1 for a linear unit).
``SensitivityMeter`` folds each batch of recorded activations into per-channel sums, so memory
does not grow with N, channel indices are never lost, and two meters merge exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def channel_l1(clean: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    """Per image, per channel: mean absolute change over the channel's map -> (N, C)."""
    diff = (clean - adv).abs()
    return diff.flatten(2).mean(2) if diff.dim() > 2 else diff


def _add(sums: dict, key, value: torch.Tensor) -> None:
    sums[key] = sums[key] + value if key in sums else value


class SensitivityMeter:
    """Running per-channel sums of ``channel_l1`` for one model at one epsilon.

    ``neurons`` (``(layer, channel)`` pairs) also keep |dF| per spatial position.
    """

    def __init__(self, layers: list[str], neurons: Sequence[tuple[str, int]] = ()):
        self.layers = list(layers)
        self.neurons = list(neurons)
        self.sums: dict[str, torch.Tensor] = {}
        self.neuron_sums: dict[tuple[str, int], torch.Tensor] = {}
        self.count = 0

    def add(self, clean: dict[str, torch.Tensor], adv: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Fold in one batch; returns the per-image values (layer -> (n, C)) for other accumulators."""
        per_image = {name: channel_l1(clean[name], adv[name]) for name in self.layers}
        for name, q in per_image.items():
            _add(self.sums, name, q.sum(0).double().cpu())
        for layer, ch in self.neurons:
            _add(self.neuron_sums, (layer, ch), (clean[layer][:, ch] - adv[layer][:, ch]).abs().sum(0).double().cpu())
        self.count += next(iter(clean.values())).shape[0] if clean else 0
        return per_image

    def merge(self, other: "SensitivityMeter") -> "SensitivityMeter":
        """Fold in a meter of other images (another shard): sums and counts add exactly."""
        for name, s in other.sums.items():
            _add(self.sums, name, s)
        for key, s in other.neuron_sums.items():
            _add(self.neuron_sums, key, s)
        self.count += other.count
        return self

    def channels(self) -> dict[str, torch.Tensor]:
        """sigma per channel, per layer (float64 vectors)."""
        return {name: s / max(self.count, 1) for name, s in self.sums.items()}

    def neuron_maps(self) -> dict[tuple[str, int], torch.Tensor]:
        """Per spatial position |dF| averaged over images, for the requested channels."""
        return {key: s / max(self.count, 1) for key, s in self.neuron_sums.items()}


def channel_scale(clean: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per image, per channel: mean |F(x)| over the map -> (N, C), the unit of relative sigma."""
    return {name: act.abs().flatten(2).mean(2) if act.dim() > 2 else act.abs() for name, act in clean.items()}


def layer_means(channels: dict[str, torch.Tensor]) -> dict[str, float]:
    """Layer sensitivity: the mean of its channels' sigmas."""
    return {name: float(s.mean()) for name, s in channels.items()}


def top_channels(channels: dict[str, torch.Tensor], k: int) -> list[dict]:
    """The k most sensitive channels across all layers, with their indices kept."""
    rows = [(float(v), name, ch) for name, s in channels.items() for ch, v in enumerate(s.tolist())]
    rows.sort(key=lambda r: (-r[0], r[1], r[2]))
    return [{"layer": name, "channel": ch, "sensitivity": v} for v, name, ch in rows[:k]]
