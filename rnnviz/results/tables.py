"""data/*.csv: the numbers behind every figure, one table each, written atomically."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from rnnviz.common.files import atomic_write_bytes
from rnnviz.common.names import MODELS
from rnnviz.results.attack_tables import attack_tables
from rnnviz.results.channel_tables import channel_attack_table
from rnnviz.sweep.analysis import ModelAnalysis

TOP_COLUMNS = ("sensitivity", "sensitivity_ci", "noise", "excess", "excess_ci", "noise_ratio", "relative", "p_top")


def write_tables(
    out: Path, results: dict, analyses: dict[str, ModelAnalysis], by_attack: dict | None = None
) -> dict[str, str]:
    """Write every table; returns name -> path relative to ``out`` (``by_attack``: attack -> model ->
    analysis, for the per-channel table of every attack)."""
    tables = {
        **({"channel_attacks": channel_attack_table(by_attack)} if by_attack else {}),
        **_accuracy_tables(results),
        **_sensitivity_tables(results, analyses),
        **_trust_tables(results),
        **_patching_table(results),
        **attack_tables(results),
    }
    files = {}
    for name, (header, rows) in tables.items():
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([[_cell(v) for v in row] for row in rows])
        atomic_write_bytes(out / "data" / f"{name}.csv", buf.getvalue().encode())
        files[name] = f"data/{name}.csv"
    return files


def _accuracy_tables(results: dict) -> dict:
    eps, acc, per_class = results["config"]["eps"], results["accuracy"], results["accuracy_per_class"]
    return {
        "accuracy": (
            ["eps", "standard", "robust"],
            [[e, acc["standard"][i], acc["robust"][i]] for i, e in enumerate(eps)],
        ),
        "accuracy_per_class": (
            ["class", "eps", "standard", "robust"],
            [
                [c["name"], e, per_class["standard"][c["name"]][i], per_class["robust"][c["name"]][i]]
                for c in results["classes"]
                for i, e in enumerate(eps)
            ],
        ),
    }


def _sensitivity_tables(results: dict, analyses: dict[str, ModelAnalysis]) -> dict:
    """sigma per layer, per top-k rank (with its interval and baseline) and per channel; eps > 0 only."""
    eps = results["config"]["eps"]
    tables = {
        "layer_sensitivity": _layer_table(results),
        "top_channels": _top_table(results),
        "channel_sensitivity": (
            ["model", "eps", "layer", "channel", "sensitivity", "noise", "scale"],
            [row for m, a in analyses.items() for row in _channel_rows(m, a, eps)],
        ),
    }
    if any(results["neuron_sensitivity"][m][0] for m in MODELS):
        tables["neuron_sensitivity"] = _neuron_table(results)
    return tables


def _layer_table(results: dict) -> tuple[list, list]:
    """sigma per model, eps and layer, with its interval, noise baseline and relative sigma."""
    eps = results["config"]["eps"]
    return (
        [
            "model",
            "eps",
            "layer",
            "sensitivity",
            "ci_low",
            "ci_high",
            "noise",
            "relative",
            "relative_ci_low",
            "relative_ci_high",
        ],
        [
            [
                m,
                eps[i],
                layer,
                v["sigma"],
                *_pair(v.get("sigma_ci")),
                v.get("noise"),
                v.get("relative"),
                *_pair(v.get("relative_ci")),
            ]
            for m in MODELS
            for i, r in enumerate(results["ranking"][m])
            if r
            for layer, v in r["layers"].items()
        ],
    )


def _top_table(results: dict) -> tuple[list, list]:
    """The top-k channels per model, eps and measure, with intervals and baselines."""
    eps = results["config"]["eps"]
    return (
        [
            "model",
            "eps",
            "measure",
            "rank",
            "layer",
            "channel",
            "sensitivity",
            "ci_low",
            "ci_high",
            "noise",
            "excess",
            "excess_ci_low",
            "excess_ci_high",
            "noise_ratio",
            "relative",
            "p_top",
        ],
        [
            [
                m,
                eps[i],
                r["measure"],
                k + 1,
                row["layer"],
                row["channel"],
                row["sensitivity"],
                *_pair(row.get("sensitivity_ci")),
                row.get("noise"),
                row.get("excess"),
                *_pair(row.get("excess_ci")),
                row.get("noise_ratio"),
                row.get("relative"),
                row.get("p_top"),
            ]
            for m in MODELS
            for i, r in enumerate(results["ranking"][m])
            if r
            for k, row in enumerate(r["top"])
        ],
    )


def _neuron_table(results: dict) -> tuple[list, list]:
    """The ``--neurons`` maps: sigma per model, eps, channel and spatial position."""
    eps = results["config"]["eps"]
    return (
        ["model", "eps", "channel", "y", "x", "sensitivity"],
        [
            [m, eps[i], key, y, x, v]
            for m in MODELS
            for i, per in enumerate(results["neuron_sensitivity"][m])
            for key, grid in per.items()
            for y, row in enumerate(grid)
            for x, v in enumerate(row)
        ],
    )


def _trust_tables(results: dict) -> dict:
    """Stability of each ranking: per class, as images are added, and the cross-model ratio."""
    eps = results["config"]["eps"]
    ranking = results["ranking"]
    return {
        "ranking_stability": (
            ["model", "eps", "measure", "expected_jaccard", "ci_low", "ci_high"],
            [
                [m, eps[i], r["measure"], r["expected_jaccard"], *_pair(r["jaccard_ci"])]
                for m in MODELS
                for i, r in enumerate(ranking[m])
                if r
            ],
        ),
        "ranking_per_class": (
            ["model", "eps", "class", "rank", "layer", "channel", "value", "jaccard_to_pooled"],
            [
                [m, eps[i], name, k + 1, row["layer"], row["channel"], row["value"], view["jaccard_to_pooled"]]
                for m in MODELS
                for i, r in enumerate(ranking[m])
                if r
                for name, view in r["per_class"].items()
                for k, row in enumerate(view["top"])
            ],
        ),
        "ranking_convergence": (
            ["model", "eps", "fraction", "n_images", "jaccard_to_full", "jaccard_low", "jaccard_high", "subsets"],
            [
                [
                    m,
                    eps[i],
                    c["fraction"],
                    c["n_images"],
                    c["jaccard"],
                    *_pair(c.get("jaccard_range")),
                    c.get("draws", 1),
                ]
                for m in MODELS
                for i, r in enumerate(ranking[m])
                if r
                for c in r["convergence"]
            ],
        ),
        "model_comparison": (
            ["eps", "measure", "standard", "robust", "ratio", "ci_low", "ci_high"],
            [
                [eps[i], c["measure"], c["standard"], c["robust"], c["ratio"], *_pair(c["ratio_ci"])]
                for i, c in enumerate(results["comparison"])
                if c
            ],
        ),
    }


def _patching_table(results: dict) -> dict:
    """Damage undone (and, for the converse, predictions flipped) per patched channel set."""
    patching, eps = results.get("patching"), results["config"]["eps"]
    if not patching:
        return {}
    return {
        "patching": (
            [
                "model",
                "eps",
                "kind",
                "k",
                "draw",
                "layer",
                "accuracy",
                "undone",
                "undone_ci_low",
                "undone_ci_high",
                "flipped",
                "accuracy_clean",
                "accuracy_adv",
            ],
            [
                [
                    m,
                    eps[i],
                    r["kind"],
                    r["k"],
                    r["draw"],
                    r["layer"],
                    r["accuracy"],
                    r.get("undone"),
                    *_pair(r.get("undone_ci")),
                    r.get("flipped"),
                    p["accuracy_clean"],
                    p["accuracy_adv"],
                ]
                for m in MODELS
                for i, p in enumerate(patching[m])
                if p
                for r in p["sets"]
            ],
        )
    }


def _pair(ci) -> list:
    return list(ci) if ci else [None, None]


def _channel_rows(model: str, analysis: ModelAnalysis, eps: list[float]) -> list[list]:
    scale = analysis.scale.channels()
    rows = []
    for e, measures in enumerate(analysis.measures):
        if eps[e] == 0:
            continue
        sigma = measures.sigma.channels()
        noise = measures.noise.channels() if measures.noise is not None else None
        rows += [
            [model, eps[e], layer, ch, v, None if noise is None else float(noise[layer][ch]), float(scale[layer][ch])]
            for layer, s in sigma.items()
            for ch, v in enumerate(s.tolist())
        ]
    return rows


def _cell(v):
    if v is None:
        return ""
    return repr(float(v)) if isinstance(v, (float, np.floating)) else v
