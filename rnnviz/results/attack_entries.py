"""results.json's "attacks" and "context": several attacks compared, transfer, collapse, the models' context.

The primary attack (the first listed) still fills every other key; this part puts each attack's
accuracy (with Wilson intervals), mean sigma and top-k side by side, says whether the sensitive
set depends on the attack (``attack_overlap``), how each model fares on the other's adversarial
images (``transfer``), where predictions collapse onto one class (``collapse``) and what the
models were trained for and score on their whole test set (the preset or model card).
"""

from __future__ import annotations

import torch

from rnnviz.common.intervals import accuracy_interval
from rnnviz.common.names import MODELS, NORMS
from rnnviz.measures.collapse import collapse_entries, collapse_warnings
from rnnviz.measures.overlap import overlap, top_keys
from rnnviz.measures.ranking import EpsRanking
from rnnviz.measures.transfer import TransferCounts
from rnnviz.settings.presets import PRESETS
from rnnviz.sweep.analysis import ModelAnalysis


def attack_results(
    cfg,
    by_attack: dict[str, dict[str, ModelAnalysis]],
    class_indices: list[int],
    display,
    transfer: dict[tuple[str, str], TransferCounts] | None,
    curve: dict | None,
) -> dict:
    """The JSON of results.attacks (docs/results-schema.md); ``display(index)`` names a class."""
    names = [a for a in cfg.attack if a in by_attack]  # the primary first, as config.attack lists them
    collapse = {
        a: {m: collapse_entries(by_attack[a][m].pred, by_attack[a][m].labels, class_indices, display) for m in MODELS}
        for a in names
    }
    warnings = [line for a in names for m in MODELS for line in collapse_warnings(collapse[a][m], list(cfg.eps), m, a)]
    return {
        "names": names,
        "primary": names[0],
        "norm": {a: NORMS[a] for a in names},
        "accuracy": {a: {m: accuracy_intervals(by_attack[a][m]) for m in MODELS} for a in names},
        "sigma_mean": {a: {m: _sigma_means(by_attack[a][m]) for m in MODELS} for a in names},
        "noise_sigma_mean": {m: _sigma_means(by_attack[names[0]][m], noise=True) for m in MODELS},
        "top": {a: {m: _tops(cfg, by_attack[a][m]) for m in MODELS} for a in names},
        "overlap": {m: overlap({a: by_attack[a][m] for a in names}, cfg.rank_by, cfg.top_k) for m in MODELS},
        "fgsm_curve": curve,
        "transfer": _transfer(cfg, by_attack[names[0]], transfer) if transfer is not None else None,
        "collapse": collapse,
        "warnings": warnings,
    }


def accuracy_intervals(analysis: ModelAnalysis) -> list[dict]:
    n = len(analysis.labels)
    return [accuracy_interval(int(c.sum()), n) for c in analysis.correct]


def curve_results(grid: list[float], correct: dict[str, list[int]], n: int) -> dict:
    """results.attacks.fgsm_curve from the correct counts per grid eps of each model."""
    return {"eps": grid, **{m: [accuracy_interval(int(c), n) for c in correct[m]] for m in MODELS}}


def _sigma_means(analysis: ModelAnalysis, noise: bool = False) -> list[float | None]:
    out: list[float | None] = []
    for eps, measures in zip(analysis.eps, analysis.measures):
        meter = measures.noise if noise else measures.sigma
        if eps == 0 or meter is None:
            out.append(None)
            continue
        out.append(float(torch.cat(list(meter.channels().values())).mean()))
    return out


def _tops(cfg, analysis: ModelAnalysis) -> list[list[str]]:
    return [
        top_keys(EpsRanking(analysis, e, cfg.rank_by), cfg.top_k) if eps > 0 else [] for e, eps in enumerate(cfg.eps)
    ]


def _transfer(cfg, primary: dict[str, ModelAnalysis], counts: dict[tuple[str, str], TransferCounts]) -> dict:
    """Source -> target accuracy and the target's mean sigma; the diagonal is each model's own sweep."""
    accuracy: dict[str, dict] = {src: {} for src in MODELS}
    sigma: dict[str, dict] = {src: {} for src in MODELS}
    for src in MODELS:
        for tgt in MODELS:
            if src == tgt:
                accuracy[src][tgt] = accuracy_intervals(primary[src])
                sigma[src][tgt] = _sigma_means(primary[src])
            else:
                c = counts[(src, tgt)]
                accuracy[src][tgt] = [accuracy_interval(int(k), c.n) for k in c.correct]
                sigma[src][tgt] = [c.sigma_mean(e) if eps > 0 else None for e, eps in enumerate(cfg.eps)]
    return {"attack": cfg.primary_attack, "eps": list(cfg.eps), "accuracy": accuracy, "sigma_mean": sigma}


def context(cfg) -> dict:
    """The robust model's training eps and both models' whole-test-set accuracy, where known.

    Known from the preset only while both models are the preset's own (its pair, or two rungs of its
    ladder); ``--train-eps`` overrides.
    """
    preset = PRESETS[cfg.preset]
    known = _preset_pair(cfg, preset)
    train = None
    if cfg.train_eps is not None:
        train = {
            "standard": 0.0,
            "robust": float(cfg.train_eps),
            "norm": NORMS[cfg.primary_attack],
            "source": "--train-eps",
        }
    elif known is not None and known[0] is not None:
        source = "model card" if preset.data == "builtin" else "preset"
        train = {"standard": 0.0, "robust": known[0], "norm": preset.train_norm, "source": source}
    full = None
    if known is not None and known[1] is not None:
        std, rob = known[1]
        full = {"standard": std, "robust": rob, "source": preset.accuracy_source}
    return {"train_eps": train, "full_test_accuracy": full}


def _preset_pair(cfg, preset) -> tuple[float | None, tuple[float, float] | None] | None:
    """(the robust model's training eps, both models' published accuracy) where the run's two models
    are the preset's pair or two rungs of its ladder; None for models of the user's own."""
    if (cfg.standard, cfg.robust) == (preset.standard, preset.robust):
        return preset.train_eps, preset.published
    rungs = {r.spec: r for r in preset.ladder}
    if cfg.standard not in rungs or cfg.robust not in rungs:
        return None
    std, rob = rungs[cfg.standard], rungs[cfg.robust]
    published = (std.published, rob.published) if std.published is not None and rob.published is not None else None
    return rob.train_eps, published
