"""The attack + sensitivity sweep for one model: batched, every epsilon, one pass over the images.

Per batch, FGSM costs one forward+backward (which also records the clean activations and clean
predictions) plus one forward per non-zero epsilon (which records the adversarial activations).
Every measurement is an accumulator with ``add`` and ``merge``, fed from those same forward
passes: running sums, a running maximum, and the predictions. Peak memory depends on the batch
size, not on the number of images.

The sweep package's words: this module *is* the sweep (its verb, public as ``rnnviz.analyze``, is
``analyze``); ``rnnviz.sweep.settings.SweepSettings`` says what it measures and
``rnnviz.sweep.analysis.ModelAnalysis`` is what it yields, one per model and attack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from rnnviz.common.names import NORMS
from rnnviz.sweep.accumulators import EpsMeasures, ExampleKeeper, PeakActivation, Predictions, ScaleMeter, Step
from rnnviz.sweep.analysis import ModelAnalysis
from rnnviz.sweep.attacks import input_gradient
from rnnviz.sweep.bootstrap import WeightedSums
from rnnviz.sweep.exemplars import TopExemplars
from rnnviz.sweep.hooks import LayerHooks
from rnnviz.sweep.noise import InputSizes, NoiseControl, probe_front, sized_noise
from rnnviz.sweep.passes import (
    CleanBatch,
    adversarial,
    check_activations,
    check_finite,
    eval_mode,
    forward_no_grad,
)
from rnnviz.sweep.sensitivity import SensitivityMeter
from rnnviz.sweep.settings import SweepSettings


def analyze(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: SweepSettings,
    *,
    progress: str | None = None,
) -> ModelAnalysis:
    """Attack ``model`` at every epsilon of ``settings`` and measure channel sensitivities on the way.

    Args:
        model: takes RGB NCHW in [0, 1] (normalization inside), in eval mode.
        images: (N, 3, H, W) in [0, 1]; labels: (N,) true classes.
        settings: eps, layers, attack and the rest (``SweepSettings``).
        progress: a progress-bar label, or ``None`` for none.

    Returns:
        ``ModelAnalysis``: accuracy per eps, sigma per channel per eps, top-k, predictions.
    """
    return analyze_attacks(model, images, labels, settings, (settings.attack,), progress=progress)[settings.attack]


def analyze_attacks(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: SweepSettings,
    attacks: Sequence[str],
    *,
    progress: str | None = None,
    ranks: int = 1,
) -> dict[str, ModelAnalysis]:
    """``analyze`` under several attacks in one pass over the images.

    The clean forward pass (with FGSM's gradient when FGSM is among them), the peak and scale
    meters and the noise baseline's forward passes are shared; each attack gets the numbers a
    run with that attack alone gives. Exemplars are kept under every attack (the primary, the
    strongest, is known only after the sweep).

    ``ranks``: this is one of that many equal shards (torchrun); the progress bar counts every
    rank's images as this rank's times ``ranks``, so rank 0's one bar shows the whole job's rate.
    """
    s = settings
    n = len(labels)
    results = _empty_analyses(s, labels, attacks)
    bar = tqdm(
        total=n * len(s.eps) * len(attacks) * ranks, desc=progress, unit="img", disable=progress is None, leave=False
    )
    with eval_mode(model), LayerHooks(model, list(s.layers)) as hooks:
        sizes = _front(model, hooks, images, s, results)
        for start in range(0, n, s.batch_size):
            x = images[start : start + s.batch_size].to(s.device, memory_format=torch.channels_last)
            y = labels[start : start + s.batch_size].to(s.device)
            clean = _clean_pass(model, hooks, x, y, start, s, results)
            for e, eps_value in enumerate(s.eps):
                for name, result in results.items():
                    step = clean.step(e) if eps_value == 0 else _attacked(model, hooks, clean, e, eps_value, s, name)
                    noise_adv = None
                    if eps_value:
                        sizes.add(e, name, step.x_adv - x)
                        if s.noise:
                            noise_adv = _noise_activations(model, hooks, clean, step, s, name, sizes)
                    _feed(result, step, noise_adv, clean.weights if eps_value > 0 else None)
                    bar.update(len(y) * ranks)
    bar.close()
    return results


def _empty_analyses(s: SweepSettings, labels: torch.Tensor, attacks: Sequence[str]) -> dict[str, ModelAnalysis]:
    """One analysis per attack, sharing one peak and one scale meter; exemplars under every attack."""
    n, n_eps = len(labels), len(s.eps)
    weights = s.weights
    peak, scale = PeakActivation(), ScaleMeter(weights is not None)
    results = {
        a: ModelAnalysis(
            list(s.eps),
            labels.numpy(),
            Predictions(n_eps, n),
            [_measures(s, weights is not None) for _ in s.eps],
            peak,
            ExampleKeeper(s.examples, n_eps),
            scale,
            weights,
        )
        for a in attacks
    }
    if s.exemplars:  # under every attack: the primary (the strongest) is known only after the sweep
        for result in results.values():
            result.exemplars = TopExemplars(list(s.layers), s.exemplars, n_eps, eps=list(s.eps), offset=s.first_index)
    return results


@dataclass(frozen=True)
class _Clean(CleanBatch):
    """One batch's clean pass: what every epsilon and attack of the batch starts from (``grad``:
    FGSM's input gradient, when FGSM is among the attacks)."""

    start: int
    logits: torch.Tensor
    activations: dict[str, torch.Tensor]
    weights: torch.Tensor | None  # resampling weights, when intervals or classes are asked for

    def step(self, e: int) -> Step:
        """eps = 0: the clean pass itself (so eps 0 reproduces clean accuracy exactly)."""
        return Step(self.start, e, self.activations, self.activations, self.logits, self.x)


def _clean_pass(model, hooks: LayerHooks, x, y, start: int, s: SweepSettings, results: dict) -> _Clean:
    """The clean forward (+ backward where FGSM is among ``results``' attacks), fed to the meters the
    attacks share."""
    grad, logits = input_gradient(model, x, y) if "fgsm" in results else (None, forward_no_grad(model, x))
    activations = hooks.take()
    check_finite(logits)
    check_activations(activations)
    index = torch.arange(start, start + len(y)) + s.first_index
    first = next(iter(results.values()))
    w = first.weights.of(index, y.cpu()) if first.weights is not None else None
    first.peak.add(activations)
    first.scale.add(activations, w)
    for result in results.values():
        if result.exemplars is not None:
            result.exemplars.add_clean(start, activations)
    return _Clean(x, y, index, grad, start=start, logits=logits, activations=activations, weights=w)


def _attacked(model, hooks: LayerHooks, clean: _Clean, e: int, eps_value: float, s: SweepSettings, name: str) -> Step:
    """The batch under attack ``name`` at ``eps_value``, and the layers' outputs on it."""
    x_adv = adversarial(model, hooks, clean, eps_value, s, name)
    out = forward_no_grad(model, x_adv)
    check_finite(out)
    adv = hooks.take()
    check_activations(adv)
    return Step(clean.start, e, clean.activations, adv, out, x_adv)


def _feed(result: ModelAnalysis, step: Step, noise_adv: dict | None, w: torch.Tensor | None) -> None:
    """Every accumulator of one analysis takes one step."""
    per_image = result.measures[step.eps_index].add(step, noise_adv, w)
    result.predictions.add(step)
    result.kept.add(step)
    if result.exemplars is not None:
        result.exemplars.add(step, per_image)


def _measures(s: SweepSettings, weighted: bool) -> EpsMeasures:
    return EpsMeasures(
        SensitivityMeter(list(s.layers), list(s.neurons)),
        SensitivityMeter(list(s.layers)) if s.noise else None,
        WeightedSums() if weighted else None,
        WeightedSums() if weighted and s.noise else None,
        SensitivityMeter(list(s.layers)) if s.noise else None,
    )


def _front(model, hooks: LayerHooks, images, s: SweepSettings, results: dict) -> InputSizes:
    """Probe how the model reads its input (once per sweep) and share the size meter."""
    with hooks.paused():
        front = probe_front(model, images[:1].to(s.device), s.seed)
    sizes = InputSizes(front["front"])
    for result in results.values():
        result.front, result.inputs = front, sizes
    return sizes


def _noise_activations(model, hooks: LayerHooks, clean: _Clean, step: Step, s: SweepSettings, name: str, sizes) -> dict:
    """The baselines' extra forward passes: the layers' outputs under noise of the size attack ``name``
    applied to each image at the step's eps, in the model's input (``rnnviz.sweep.noise``): sign
    noise, then the Gaussian control."""
    out = {}
    e = step.eps_index
    eps_value = s.eps[e]
    applied = step.x_adv - clean.x
    for kind in ("sign", "gauss"):
        control = NoiseControl(NORMS[name], sizes.front, kind)
        x_noise = sized_noise(clean.x, applied, eps_value, s.seed, clean.index, control)
        sizes.add(e, f"{'noise' if kind == 'sign' else 'gauss'}@{name}", x_noise - clean.x)
        forward_no_grad(model, x_noise)
        out[kind] = hooks.take()
        check_activations(out[kind])
    return out
