"""How much to trust a channel ranking: intervals, the noise baseline, scale, classes, sample size.

Everything here is computed from the sums one sweep accumulated (``analysis.EpsMeasures``):
bootstrap columns give intervals, top-k probabilities and the expected Jaccard overlap of a
resample's top-k with the reported one; class columns give per-class rankings; nested subset
columns (several draws per size) show whether the ranking has settled as images are added. What ranks is one of
``rank_measures.RANK_BY`` (default: excess standardised per layer, comparable across layers and specific
to the attack); sigma is
always computed and tabled, with its rank correlation with the clean |F| (the magnitude confound).
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

import torch

from rnnviz.common.names import MAX_CANDIDATES
from rnnviz.measures import rank_measures
from rnnviz.sweep.analysis import ModelAnalysis
from rnnviz.sweep.bootstrap import SUBSET_DRAWS, SUBSET_FRACTIONS, WeightedSums, interval

P_TOP_CANDIDATE = 0.2  # a channel outside the top-k this often inside it is listed as a candidate


def _flat(per_layer: dict[str, torch.Tensor]) -> tuple[torch.Tensor, list[tuple[str, int]]]:
    """Layer -> (..., C) tensors as one (..., total C) tensor plus the (layer, channel) of each column."""
    keys = [(name, c) for name, t in per_layer.items() for c in range(t.shape[-1])]
    return torch.cat(list(per_layer.values()), dim=-1), keys


def top_indices(values: torch.Tensor, k: int) -> list[int]:
    """Indices of the k largest values, ties broken by position (stable, as ``top_channels``)."""
    order = sorted(range(values.shape[-1]), key=lambda j: (-float(values[j]), j))
    return order[:k]


def jaccard(a, b) -> float:
    a, b = set(a), set(b)
    return len(a & b) / len(a | b) if a | b else 1.0


def _float(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _ci(lo, hi) -> list[float | None]:
    return [_float(lo), _float(hi)]


class EpsRanking:
    """The measures of one model at one (non-zero) epsilon, ready to summarize."""

    def __init__(self, analysis: ModelAnalysis, e: int, rank_by: str):
        self.a, self.m = analysis, analysis.measures[e]
        self.rank_by = rank_by if self.m.noise is not None or rank_by not in rank_measures.NEEDS_NOISE else "relative"
        self.sigma = self.m.sigma.channels()
        self.noise = self.m.noise.channels() if self.m.noise is not None else None
        self.scale = analysis.scale.channels()
        self.point = self._measure(self.sigma, self.noise, self.scale)

    def _measure(self, sigma: dict, noise: dict | None, scale: dict) -> dict[str, torch.Tensor]:
        return rank_measures.values(self.rank_by, sigma, noise, scale)

    def _samples(self, group: str) -> dict[str, torch.Tensor] | None:
        weights = self.a.weights
        if weights is None or self.m.sigma_w is None:
            return None
        cols = weights.columns(group)
        if cols.stop == cols.start:
            return None
        sigma = self.m.sigma_w.means(cols)
        noise = self.m.noise_w.means(cols) if self.m.noise_w is not None else None
        weighted = self.a.scale.weighted
        scale = weighted.means(cols) if weighted is not None else self.scale
        return self._measure(sigma, noise, scale)

    def scores(self) -> tuple[torch.Tensor, list[tuple[str, int]]]:
        """The ranking measure of every channel as one flat vector, with each column's (layer, channel)."""
        return _flat(self.point)

    def expected_jaccard(self, k: int) -> float | None:
        """Mean Jaccard overlap of a bootstrap resample's top-k with this top-k (None without resamples)."""
        boot = self._samples("bootstrap")
        if boot is None:
            return None
        values, _ = _flat(self.point)
        return float(self._stability(boot, top_indices(values, k), k)[1].mean())

    def summary(self, k: int, class_names: list[str]) -> dict:
        values, keys = _flat(self.point)
        top = top_indices(values, k)
        boot = self._samples("bootstrap")
        p_top, jaccards = self._stability(boot, top, k) if boot is not None else (None, None)
        rows = [self._row(keys[j], p_top[j] if p_top is not None else None) for j in top]
        return {
            "measure": self.rank_by,
            "top": rows,
            "candidates": _candidates(keys, top, p_top),
            "expected_jaccard": None if jaccards is None else float(jaccards.mean()),
            "jaccard_ci": None if jaccards is None else _ci(*interval(jaccards[:, None])),
            "layers": self._layers(),
            "confound": self.confound(),
            "agreement": self.agreement(top, k),
            "per_class": self._per_class(top, keys, k, class_names),
            "convergence": self._convergence(top, k),
        }

    def confound(self) -> dict:
        """Per layer, Spearman's rho with the clean mean |F| of sigma and of the ranking measure."""
        return {
            "sigma": rank_measures.magnitude_confound(self.sigma, self.scale),
            "measure": rank_measures.magnitude_confound(self.point, self.scale),
        }

    def agreement(self, top: list[int], k: int) -> dict:
        """Jaccard of this top-k with the top-k by sigma, by sigma_noise and by clean mean |F|."""
        others = {"sigma": self.sigma, "scale": self.scale, "noise": self.noise}
        return {
            name: jaccard(top, top_indices(_flat(v)[0], k)) if v is not None else None for name, v in others.items()
        }

    def _stability(self, boot: dict, top: list[int], k: int) -> tuple[torch.Tensor, torch.Tensor]:
        samples, _ = _flat(boot)
        hits = torch.zeros(samples.shape[1], dtype=torch.float64)
        jaccards = []
        for b in range(samples.shape[0]):
            chosen = torch.topk(samples[b], k).indices.tolist()
            hits[chosen] += 1
            jaccards.append(jaccard(chosen, top))
        return hits / samples.shape[0], torch.tensor(jaccards, dtype=torch.float64)

    def _row(self, key: tuple[str, int], p_top) -> dict:
        layer, ch = key
        sigma = float(self.sigma[layer][ch])
        row = {
            "layer": layer,
            "channel": ch,
            "sensitivity": sigma,
            "relative": _float(sigma / float(self.scale[layer][ch])) if self.scale[layer][ch] > 0 else None,
            "p_top": None if p_top is None else float(p_top),
        }
        boot = self._channel_samples(layer, ch)  # intervals are null without a bootstrap
        row["sensitivity_ci"] = _ci(*interval(boot[0][:, None])) if boot is not None else None
        if self.noise is not None:
            noise = float(self.noise[layer][ch])
            row.update(
                noise=noise,
                excess=sigma - noise,
                noise_ratio=_float(noise / sigma) if sigma else None,
                excess_ci=_ci(*interval((boot[0] - boot[1])[:, None])) if boot is not None else None,
            )
        return row

    def _weighted(self) -> WeightedSums:
        assert self.m.sigma_w is not None, "no resampling weights were accumulated"
        return self.m.sigma_w

    @cached_property
    def _boot_means(self) -> tuple[dict, dict | None] | None:
        """Per layer, sigma and sigma_noise of every bootstrap resample (B, C); computed once."""
        if self.a.weights is None or not self.a.weights.bootstrap:
            return None
        cols = self.a.weights.columns("bootstrap")
        noise = self.m.noise_w.means(cols) if self.m.noise_w is not None else None
        return self._weighted().means(cols), noise

    def _channel_samples(self, layer: str, ch: int):
        if self._boot_means is None:
            return None
        sigma, noise = self._boot_means
        return sigma[layer][:, ch], noise[layer][:, ch] if noise is not None else None

    def _layers(self) -> dict[str, dict]:
        """Per layer: its channel count, mean sigma, the noise share, relative sigma (mean sigma / mean
        |F|) and relative excess (layer-comparable), each with its interval when bootstrapped."""
        out = {}
        boot = self._boot_layer_stats()
        for name, sigma in self.sigma.items():
            scale = float(self.scale[name].mean())
            entry: dict[str, Any] = {
                "channels": len(sigma),
                "sigma": float(sigma.mean()),
                "relative": _float(float(sigma.mean()) / scale) if scale > 0 else None,
            }
            if self.noise is not None:
                entry["noise"] = float(self.noise[name].mean())
                entry["noise_ratio"] = _float(entry["noise"] / entry["sigma"]) if entry["sigma"] else None
                entry["relative_excess"] = _float((entry["sigma"] - entry["noise"]) / scale) if scale > 0 else None
            entry["sigma_ci"] = _ci(*interval(boot["sigma"][name][:, None])) if boot is not None else None
            entry["relative_ci"] = _ci(*interval(boot["relative"][name][:, None])) if boot is not None else None
            out[name] = entry
        return out

    def _boot_layer_stats(self) -> dict | None:
        if self.a.weights is None or not self.a.weights.bootstrap:
            return None
        cols = self.a.weights.columns("bootstrap")
        sigma = {n: t.mean(1) for n, t in self._weighted().means(cols).items()}
        assert self.a.scale.weighted is not None
        scale = {n: t.mean(1) for n, t in self.a.scale.weighted.means(cols).items()}
        return {"sigma": sigma, "relative": {n: sigma[n] / scale[n] for n in sigma}}

    def relative_samples(self) -> torch.Tensor | None:
        """Per bootstrap resample: the mean over layers of relative sigma (for cross-model ratios)."""
        boot = self._boot_layer_stats()
        return None if boot is None else torch.stack(list(boot["relative"].values())).mean(0)

    def mean_relative(self) -> float | None:
        values = [v["relative"] for v in self._layers().values()]
        return None if any(v is None for v in values) else sum(values) / len(values)

    def _per_class(self, top: list[int], keys, k: int, class_names: list[str]) -> dict:
        per = self._samples("classes")
        if per is None:
            return {}
        values, _ = _flat(per)
        out = {}
        for c, name in enumerate(class_names):
            chosen = top_indices(values[c], k)
            out[name] = {
                "top": [{"layer": keys[j][0], "channel": keys[j][1], "value": _float(values[c, j])} for j in chosen],
                "jaccard_to_pooled": jaccard(chosen, top),
            }
        return out

    def _convergence(self, top: list[int], k: int) -> list[dict]:
        """Per subset fraction, the Jaccard of a subset's top-k with the full top-k over
        ``SUBSET_DRAWS`` independent subsets: the mean and the range (min, max)."""
        per = self._samples("subsets")
        if per is None:
            return []
        values, _ = _flat(per)
        all_totals = self._weighted().totals
        assert self.a.weights is not None and all_totals is not None
        totals = all_totals[self.a.weights.columns("subsets")]
        rows = []
        for f, fraction in enumerate(SUBSET_FRACTIONS):
            cols = [d * len(SUBSET_FRACTIONS) + f for d in range(SUBSET_DRAWS)]
            scores = [jaccard(top_indices(values[c], k), top) for c in cols if totals[c] > 0]
            rows.append(
                {
                    "fraction": fraction,
                    "n_images": round(float(totals[cols].mean())),
                    "jaccard": sum(scores) / len(scores) if scores else None,
                    "jaccard_range": [min(scores), max(scores)] if scores else [None, None],
                    "draws": len(scores),
                }
            )
        n = self.m.sigma.count
        return rows + [{"fraction": 1.0, "n_images": n, "jaccard": 1.0, "jaccard_range": [1.0, 1.0], "draws": 1}]


def _candidates(keys: list[tuple[str, int]], top: list[int], p_top: torch.Tensor | None) -> list[dict]:
    """Channels outside the reported top-k that enter a resample's top-k often, most often first."""
    if p_top is None:
        return []
    outside = [(float(p_top[j]), j) for j in range(len(keys)) if j not in top and p_top[j] >= P_TOP_CANDIDATE]
    outside.sort(key=lambda pj: (-pj[0], pj[1]))
    return [{"layer": keys[j][0], "channel": keys[j][1], "p_top": p} for p, j in outside[:MAX_CANDIDATES]]


def compare(standard: EpsRanking, robust: EpsRanking) -> dict:
    """standard / robust mean relative sigma, with a paired-bootstrap interval (same resamples)."""
    point_s, point_r = standard.mean_relative(), robust.mean_relative()
    ratio = point_s / point_r if point_s and point_r else None
    out: dict[str, Any] = {
        "measure": "relative sigma",
        "ratio": ratio,
        "ratio_ci": None,
        "standard": point_s,
        "robust": point_r,
    }
    s, r = standard.relative_samples(), robust.relative_samples()
    if ratio is not None and s is not None and r is not None:
        out["ratio_ci"] = _ci(*interval((s / r)[:, None]))
    return out
