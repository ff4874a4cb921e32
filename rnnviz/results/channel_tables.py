"""data/channel_attacks.csv: every channel under every attack, not only the primary one.

Per model, attack, eps and channel: sigma, sigma under the matched sign noise and the Gaussian
control, excess, relative excess and clean mean |F|, with bootstrap intervals for sigma and excess
where the run resampled.
"""

from __future__ import annotations

import torch

from rnnviz.measures import rank_measures
from rnnviz.sweep.analysis import ModelAnalysis
from rnnviz.sweep.bootstrap import interval

HEADER = [
    "model",
    "attack",
    "eps",
    "layer",
    "channel",
    "sensitivity",
    "sensitivity_ci_low",
    "sensitivity_ci_high",
    "noise",
    "gauss",
    "excess",
    "excess_ci_low",
    "excess_ci_high",
    "relative_excess",
    "scale",
]


def channel_attack_table(by_attack: dict[str, dict[str, ModelAnalysis]]) -> tuple[list[str], list[list]]:
    rows = []
    for attack, per_model in by_attack.items():
        for m, a in per_model.items():
            for e, eps in enumerate(a.eps):
                if eps > 0:
                    rows += _rows(m, attack, a, e)
    return HEADER, rows


def _rows(m: str, attack: str, a: ModelAnalysis, e: int) -> list[list]:
    meas, scale = a.measures[e], a.scale.channels()
    sigma = meas.sigma.channels()
    noise = meas.noise.channels() if meas.noise is not None else None
    gauss = meas.gauss.channels() if meas.gauss is not None else None
    rel = rank_measures.values("relative-excess", sigma, noise, scale) if noise is not None else None
    bounds = _bounds(a, e)
    out = []
    for layer, s in sigma.items():
        b = bounds.get(layer) if bounds else None
        for c in range(len(s)):
            n = float(noise[layer][c]) if noise is not None else None
            out.append(
                [m, attack, a.eps[e], layer, c, float(s[c]), *_at(b, "sigma", c), n]
                + [float(gauss[layer][c]) if gauss is not None else None]
                + [float(s[c]) - n if n is not None else None, *_at(b, "excess", c)]
                + [float(rel[layer][c]) if rel is not None else None, float(scale[layer][c])]
            )
    return out


def _bounds(a: ModelAnalysis, e: int) -> dict | None:
    """Per layer, the bootstrap intervals of sigma and excess for every channel at once."""
    meas = a.measures[e]
    if a.weights is None or not a.weights.bootstrap or meas.sigma_w is None:
        return None
    cols = a.weights.columns("bootstrap")
    sigma = meas.sigma_w.means(cols)
    noise = meas.noise_w.means(cols) if meas.noise_w is not None else None
    out = {}
    for layer, s in sigma.items():
        out[layer] = {"sigma": interval(s)}
        if noise is not None:
            out[layer]["excess"] = interval(s - noise[layer])
    return out


def _at(bounds: dict | None, key: str, c: int) -> list:
    if not bounds or key not in bounds:
        return [None, None]
    lo, hi = bounds[key]
    return [_finite(lo[c]), _finite(hi[c])]


def _finite(x: torch.Tensor) -> float | None:
    v = float(x)
    return v if v == v and abs(v) != float("inf") else None
