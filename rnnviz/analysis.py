"""The attack + sensitivity stage for one model: batched, every epsilon, one sweep.

Per batch, FGSM costs one forward+backward (which also records the clean activations
and clean predictions) plus one forward per non-zero epsilon (which records the
adversarial activations). Nothing per image is kept but predictions, so peak memory
depends on the batch size, not on the number of images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from .attacks import PGDSettings, fgsm_step, input_gradient, pgd
from .errors import UsageError
from .sensitivity import LayerRecorder, SensitivityMeter, channel_mean, layer_means, top_channels


@dataclass
class ModelAnalysis:
    """What one model did on the shared images, per epsilon (lists aligned with eps)."""

    eps: list[float]
    pred: np.ndarray            # (n_eps, N) predicted class
    confidence: np.ndarray      # (n_eps, N) softmax probability of the prediction
    correct: np.ndarray         # (n_eps, N) bool
    channels: list[dict[str, torch.Tensor]]   # per eps: layer -> sigma per channel
    max_activation: dict[str, torch.Tensor]   # layer -> largest clean spatial-mean activation
    examples: dict[int, torch.Tensor] = field(default_factory=dict)  # image index -> (n_eps, 3, H, W)
    neuron_maps: list[dict] = field(default_factory=list)

    @property
    def accuracy(self) -> list[float]:
        return [float(c.mean()) for c in self.correct]

    def accuracy_for(self, mask: np.ndarray) -> list[float]:
        return [float(c[mask].mean()) if mask.any() else float("nan") for c in self.correct]

    def layer_sensitivity(self) -> list[dict[str, float]]:
        return [layer_means(ch) for ch in self.channels]

    def top(self, k: int) -> list[list[dict]]:
        return [top_channels(ch, k) for ch in self.channels]


def analyze(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: list[float], *,
            layers: list[str], attack: str = "fgsm", pgd_settings: PGDSettings = PGDSettings(),
            batch_size: int = 32, seed: int = 0, examples: list[int] = (), neurons=(),
            device: str = "cpu", progress: str | None = None) -> ModelAnalysis:
    """Attack ``model`` at every epsilon and measure channel sensitivities on the way."""
    n, n_eps = len(labels), len(eps)
    pred = np.zeros((n_eps, n), dtype=np.int64)
    conf = np.zeros((n_eps, n), dtype=np.float32)
    meters = [SensitivityMeter(layers, neurons) for _ in eps]
    max_act: dict[str, torch.Tensor] = {}
    kept: dict[int, list] = {i: [None] * n_eps for i in examples}
    generator = torch.Generator().manual_seed(seed)
    bar = tqdm(total=n * n_eps, desc=progress, unit="img", disable=progress is None, leave=False)
    with LayerRecorder(model, layers) as rec:
        for start in range(0, n, batch_size):
            x = images[start:start + batch_size].to(device, memory_format=torch.channels_last)
            y = labels[start:start + batch_size].to(device)
            grad, logits = input_gradient(model, x, y) if attack == "fgsm" else (None, _forward(model, x))
            clean = rec.take()
            _check_finite(logits)
            _update_max(max_act, clean)
            for e, eps_value in enumerate(eps):
                if eps_value == 0:
                    x_adv, out, adv = x, logits, clean
                else:
                    x_adv = _adversarial(model, rec, x, y, grad, eps_value, attack, pgd_settings, generator)
                    out = _forward(model, x_adv)
                    adv = rec.take()
                    _check_finite(out)
                meters[e].add(clean, adv)
                _store(pred, conf, e, start, out)
                for i in kept:
                    if start <= i < start + len(y):
                        kept[i][e] = x_adv[i - start].detach().cpu()
                bar.update(len(y))
    bar.close()
    correct = pred == labels.numpy()[None, :]
    return ModelAnalysis(list(eps), pred, conf, correct, [m.channels() for m in meters], max_act,
                         {i: torch.stack(v) for i, v in kept.items()}, [m.neuron_maps() for m in meters])


def _forward(model, x):
    with torch.no_grad():
        return model(x)


def _adversarial(model, rec, x, y, grad, eps_value, attack, settings, generator):
    if attack == "fgsm":
        return fgsm_step(x, grad, eps_value)
    with rec.paused():
        return pgd(model, x, y, eps_value, settings, generator)


def _store(pred, conf, e, start, logits):
    probs = torch.softmax(logits.float(), dim=1)
    top_p, top_i = probs.max(dim=1)
    pred[e, start:start + len(top_i)] = top_i.cpu().numpy()
    conf[e, start:start + len(top_i)] = top_p.cpu().numpy()


def _update_max(max_act: dict, clean: dict) -> None:
    for name, act in clean.items():
        batch_max = channel_mean(act).max(0).values.cpu()
        max_act[name] = torch.maximum(max_act[name], batch_max) if name in max_act else batch_max


class NonFiniteOutput(UsageError):
    """NaN or inf logits: averaging them would silently corrupt every number downstream."""


def _check_finite(logits: torch.Tensor) -> None:
    if not torch.isfinite(logits).all():
        raise NonFiniteOutput("produced NaN or inf logits; check the checkpoint and its normalization")


def sweet_spot(standard: ModelAnalysis, robust: ModelAnalysis) -> dict:
    """Per eps, the share of images the robust model still gets right and the standard one not."""
    fraction = [float((r & ~s).mean()) for r, s in zip(robust.correct, standard.correct)]
    best = int(np.argmax(fraction)) if fraction and max(fraction) > 0 else None
    return {"fraction": fraction, "best_index": best}


def non_monotone(accuracy: list[float], eps: list[float]) -> list[tuple[float, float]]:
    """Epsilon pairs where accuracy rises with eps (FGSM is not monotone; say so)."""
    order = sorted(range(len(eps)), key=lambda i: eps[i])
    return [(eps[a], eps[b]) for a, b in zip(order, order[1:])
            if accuracy[b] > accuracy[a] + 1e-9 and not math.isclose(eps[a], eps[b])]
