"""``ModelAnalysis``: what one model did on the shared images, and how shards of it merge.

The sweep package's words: ``rnnviz.sweep.loop`` runs the sweep (``analyze``), configured by
``rnnviz.sweep.settings.SweepSettings``; this module holds its result, one per model and attack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rnnviz.sweep.accumulators import EpsMeasures, ExampleKeeper, PeakActivation, Predictions, ScaleMeter, merged
from rnnviz.sweep.bootstrap import ImageWeights
from rnnviz.sweep.exemplars import TopExemplars
from rnnviz.sweep.noise import InputSizes
from rnnviz.sweep.sensitivity import SensitivityMeter, layer_means, top_channels


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
            [merged([p.measures[e] for p in parts]) for e in range(len(first.eps))],
            _merged_once(memo, [p.peak for p in parts]),
            kept,
            _merged_once(memo, [p.scale for p in parts]),
            first.weights,
            merged([p.exemplars for p in parts]) if first.exemplars is not None else None,
            _merged_once(memo, [p.inputs for p in parts]) if first.inputs is not None else None,
            first.front,
        )


def concat_attacks(parts: Sequence[dict[str, ModelAnalysis]]) -> dict[str, ModelAnalysis]:
    """``analyze_attacks``' results on contiguous shards (in image order) -> the whole's, per attack."""
    memo: dict = {}
    return {a: ModelAnalysis.concat([p[a] for p in parts], memo) for a in parts[0]}


def _merged_once(memo: dict, parts: list):
    """``merged``, once per distinct set of objects (meters shared between attacks)."""
    key = tuple(id(p) for p in parts)
    if key not in memo:
        memo[key] = (merged(parts), parts)  # the parts are held so their ids stay theirs
    return memo[key][0]
