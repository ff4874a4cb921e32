"""The attack + sensitivity sweep for one model: batched, every epsilon, one pass over the images.

Per batch, FGSM costs one forward+backward (which also records the clean activations and clean
predictions) plus one forward per non-zero epsilon (which records the adversarial activations).
Every measurement is an accumulator with ``add`` and ``merge``, fed from those same forward
passes: running sums, a running maximum, and the predictions. Peak memory depends on the batch
size, not on the number of images.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from rnnviz.common.errors import UsageError
from rnnviz.common.names import NORMS
from rnnviz.sweep.accumulators import EpsMeasures, ExampleKeeper, PeakActivation, Predictions, ScaleMeter, Step
from rnnviz.sweep.attacks import PGDSettings, attack, input_gradient
from rnnviz.sweep.bootstrap import ImageWeights, WeightedSums
from rnnviz.sweep.exemplars import TopExemplars
from rnnviz.sweep.hooks import LayerHooks
from rnnviz.sweep.noise import InputSizes, matched_noise, probe_front
from rnnviz.sweep.sensitivity import SensitivityMeter, layer_means, top_channels


@dataclass(frozen=True)
class SweepSettings:
    """What one sweep measures and how; the same for both models of a pair.

    Args:
        eps: perturbation sizes in [0, 1] pixel units (0 reproduces clean accuracy exactly).
        layers: module paths whose channels are measured.
        attack: ``"fgsm"`` or ``"pgd"``.
        pgd: PGD's steps and step size (ignored by FGSM).
        batch_size: images per forward pass (changes no number beyond float rounding).
        seed: seeds PGD's random start, the noise baseline and the resampling weights (per image).
        examples: image indices whose adversarial versions are kept for the report.
        neurons: ``(layer, channel)`` pairs whose sensitivity is also mapped per position.
        device: where the model runs.
        bootstrap: Poisson bootstrap resamples B for intervals (0: none).
        noise: also measure sigma under random sign noise of the same size (the baseline).
        classes: label indices with a per-class view (with ``bootstrap``, weighted sums per class).
        first_index: the global index of ``images[0]`` (a shard of a larger set): resampling weights
            and noise belong to an image's global index, so shards merge into the whole exactly.
        exemplars: keep, per channel, this many top images by clean activation and by change
            (``rnnviz.sweep.exemplars``; under the first attack only); 0: none.
    """

    eps: Sequence[float]
    layers: Sequence[str]
    attack: str = "fgsm"
    pgd: PGDSettings = PGDSettings()
    batch_size: int = 32
    seed: int = 0
    examples: Sequence[int] = ()
    neurons: Sequence[tuple[str, int]] = ()
    device: str = "cpu"
    bootstrap: int = 0
    noise: bool = False
    classes: Sequence[int] = ()
    first_index: int = 0
    exemplars: int = 0

    @property
    def weights(self) -> ImageWeights | None:
        """Per-image resampling weights; None when no interval or per-class view is asked for."""
        if not (self.bootstrap or self.classes):
            return None
        return ImageWeights(self.bootstrap, tuple(self.classes), self.seed)

    def __post_init__(self):
        object.__setattr__(self, "eps", tuple(float(e) for e in self.eps))
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "examples", tuple(self.examples))
        object.__setattr__(self, "neurons", tuple(tuple(n) for n in self.neurons))
        object.__setattr__(self, "classes", tuple(self.classes))


@dataclass
class ModelAnalysis:
    """What one model did on the shared images, per epsilon (lists aligned with eps)."""

    eps: list[float]
    labels: np.ndarray
    predictions: Predictions
    measures: list[EpsMeasures]  # per eps
    peak: PeakActivation
    kept: ExampleKeeper
    scale: ScaleMeter
    weights: ImageWeights | None = None
    exemplars: TopExemplars | None = None
    inputs: InputSizes | None = None  # perturbation sizes in the model's input (rnnviz.sweep.noise)
    front: dict | None = None  # how the model reads its input (``probe_front``)

    @property
    def meters(self) -> list[SensitivityMeter]:
        return [m.sigma for m in self.measures]

    @property
    def examples(self) -> dict[int, torch.Tensor]:
        """Image index -> its adversarial versions, (n_eps, 3, H, W)."""
        return self.kept.stacked()

    @property
    def pred(self) -> np.ndarray:
        return self.predictions.pred

    @property
    def confidence(self) -> np.ndarray:
        return self.predictions.confidence

    @property
    def correct(self) -> np.ndarray:
        return self.pred == self.labels[None, :]

    @property
    def channels(self) -> list[dict[str, torch.Tensor]]:
        """Per eps: layer -> sigma per channel."""
        return [m.channels() for m in self.meters]

    @property
    def max_activation(self) -> dict[str, torch.Tensor]:
        return self.peak.peak

    @property
    def neuron_maps(self) -> list[dict]:
        return [m.neuron_maps() for m in self.meters]

    @property
    def accuracy(self) -> list[float]:
        return [float(c.mean()) for c in self.correct]

    def accuracy_for(self, mask: np.ndarray) -> list[float]:
        return [float(c[mask].mean()) if mask.any() else float("nan") for c in self.correct]

    def layer_sensitivity(self) -> list[dict[str, float]]:
        return [layer_means(ch) for ch in self.channels]

    def top(self, k: int) -> list[list[dict]]:
        return [top_channels(ch, k) for ch in self.channels]

    @classmethod
    def concat(cls, parts: Sequence["ModelAnalysis"], shared: dict | None = None) -> "ModelAnalysis":
        """The analyses of contiguous shards, in image order, as one pass over all their images.

        Per-image arrays (labels, predictions) are concatenated, kept example indices move from
        shard positions to whole-set positions, and every sum merges (sums and counts, never means
        of means). ``parts`` are left unchanged. ``shared`` is a memo across the attacks of one
        ``analyze_attacks`` call, whose analyses share one peak and one scale meter: those merge once
        and stay shared.
        """
        if not parts:
            raise ValueError("no shards to concatenate")
        memo = {} if shared is None else shared
        first = parts[0]
        starts = np.cumsum([0] + [len(p.labels) for p in parts[:-1]])
        predictions = Predictions(len(first.eps), 0)
        predictions.pred = np.concatenate([p.predictions.pred for p in parts], axis=1)
        predictions.confidence = np.concatenate([p.predictions.confidence for p in parts], axis=1)
        kept = ExampleKeeper((), len(first.eps))
        kept.images = {int(i) + int(s): v for p, s in zip(parts, starts) for i, v in p.kept.images.items()}
        return cls(
            list(first.eps),
            np.concatenate([p.labels for p in parts]),
            predictions,
            [_merged([p.measures[e] for p in parts]) for e in range(len(first.eps))],
            _merged_once(memo, [p.peak for p in parts]),
            kept,
            _merged_once(memo, [p.scale for p in parts]),
            first.weights,
            _merged([p.exemplars for p in parts]) if first.exemplars is not None else None,
            _merged_once(memo, [p.inputs for p in parts]) if first.inputs is not None else None,
            first.front,
        )


def concat_attacks(parts: Sequence[dict[str, ModelAnalysis]]) -> dict[str, ModelAnalysis]:
    """``analyze_attacks``' results on contiguous shards (in image order) -> the whole's, per attack."""
    memo: dict = {}
    return {a: ModelAnalysis.concat([p[a] for p in parts], memo) for a in parts[0]}


def _merged(parts: list):
    """A copy of the first accumulator with the others merged in, in order."""
    whole = copy.deepcopy(parts[0])
    for p in parts[1:]:
        whole.merge(p)
    return whole


def _merged_once(memo: dict, parts: list):
    """``_merged``, once per distinct set of objects (meters shared between attacks)."""
    key = tuple(id(p) for p in parts)
    if key not in memo:
        memo[key] = (_merged(parts), parts)  # the parts are held so their ids stay theirs
    return memo[key][0]


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
    run with that attack alone gives. Exemplars are kept under the first attack.

    ``ranks``: this is one of that many equal shards (torchrun); the progress bar counts every
    rank's images as this rank's times ``ranks``, so rank 0's one bar shows the whole job's rate.
    """
    s = settings
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
    bar = tqdm(total=n * n_eps * len(attacks) * ranks, desc=progress, unit="img", disable=progress is None, leave=False)
    with eval_mode(model), LayerHooks(model, list(s.layers)) as hooks:
        sizes = _front(model, hooks, images, s, results)
        for start in range(0, n, s.batch_size):
            x = images[start : start + s.batch_size].to(s.device, memory_format=torch.channels_last)
            y = labels[start : start + s.batch_size].to(s.device)
            grad, logits = input_gradient(model, x, y) if "fgsm" in attacks else (None, forward_no_grad(model, x))
            clean = hooks.take()
            _check_finite(logits)
            index = torch.arange(start, start + len(y)) + s.first_index
            w = weights.of(index, y.cpu()) if weights is not None else None
            peak.add(clean)
            scale.add(clean, w)
            for result in results.values():
                if result.exemplars is not None:
                    result.exemplars.add_clean(start, clean)
            for e, eps_value in enumerate(s.eps):
                noisy = s.noise and eps_value
                noise_adv = _noise_activations(model, hooks, x, eps_value, s, index, sizes, e) if noisy else None
                for name, result in results.items():
                    if eps_value == 0:
                        step = Step(start, e, clean, clean, logits, x)
                    else:
                        x_adv = adversarial(model, hooks, x, y, grad, eps_value, s, index, name)
                        out = forward_no_grad(model, x_adv)
                        _check_finite(out)
                        step = Step(start, e, clean, hooks.take(), out, x_adv)
                        sizes.add(e, name, x_adv - x)
                    per_image = result.measures[e].add(step, noise_adv, w if eps_value > 0 else None)
                    result.predictions.add(step)
                    result.kept.add(step)
                    if result.exemplars is not None:
                        result.exemplars.add(step, per_image)
                    bar.update(len(y) * ranks)
    bar.close()
    return results


@contextmanager
def eval_mode(model: torch.nn.Module):
    """Attacks measure the deployed model: BatchNorm on running statistics, no dropout."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, flag in modes:
            m.training = flag


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


def _noise_activations(model, hooks: LayerHooks, x, eps_value: float, s: SweepSettings, index, sizes, e) -> dict:
    """The baselines' extra forward passes: the layers' outputs under noise matched to the attack in
    the model's input (``rnnviz.sweep.noise``): sign noise, then the Gaussian control."""
    out = {}
    for kind in ("sign", "gauss"):
        x_noise = matched_noise(x, eps_value, s.seed, index, NORMS[s.attack], sizes.front, kind)
        sizes.add(e, "noise" if kind == "sign" else "gauss", x_noise - x)
        forward_no_grad(model, x_noise)
        out[kind] = hooks.take()
    return out


def forward_no_grad(model, x):
    with torch.no_grad():
        return model(x)


def adversarial(model, hooks: LayerHooks, x, y, grad, eps_value: float, s: SweepSettings, index, name: str = ""):
    """``x`` under attack ``name`` (default: the settings' attack), with the hooks silent meanwhile."""
    with hooks.paused():
        return attack(name or s.attack, model, x, y, eps_value, s.pgd, grad=grad, seed=s.seed, indices=index)


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
