"""data/*.csv behind the attack comparison: accuracy with intervals, overlap, transfer, collapse."""

from __future__ import annotations

from rnnviz.common.names import MODELS

INTERVAL = ["correct", "n", "accuracy", "low", "high"]


def strong_table(results: dict) -> dict:
    """data/strong_attack.csv: each model's strongest accuracy per eps (nothing where it did not run)."""
    strong = results.get("strong_attack")
    if not strong or not strong["models"]:
        return {}
    eps = results["config"]["eps"]
    return {
        "strong_attack": (
            ["model", "eps", "correct", "n", "accuracy", "lo", "hi"],
            [
                [m, e, s["correct"][i], s["n"], s["accuracy"][i], *s["interval"][i]]
                for m, s in strong["models"].items()
                for i, e in enumerate(eps)
            ],
        )
    }


def attack_tables(results: dict) -> dict:
    """name -> (header, rows), from results.attacks (nothing when the run has no such key)."""
    attacks = results.get("attacks")
    if not attacks:
        return strong_table(results)
    eps = results["config"]["eps"]
    tables = {
        "attacks_accuracy": (
            ["attack", "norm", "model", "eps", *INTERVAL, "sigma_mean"],
            [
                [a, attacks["norm"][a], m, e, *_interval(acc), attacks["sigma_mean"][a][m][i]]
                for a in attacks["names"]
                for m in MODELS
                for i, (e, acc) in enumerate(zip(eps, attacks["accuracy"][a][m]))
            ],
        ),
        "attack_overlap": (
            ["model", "attack_a", "eps_a", "attack_b", "eps_b", "jaccard", "spearman", "expected_jaccard_a"],
            [
                [m, ca["attack"], ca["eps"], cb["attack"], cb["eps"], o["jaccard"][i][j], o["spearman"][i][j]]
                + [o["expected_jaccard"][i]]
                for m, o in attacks["overlap"].items()
                for i, ca in enumerate(o["conditions"])
                for j, cb in enumerate(o["conditions"])
            ],
        ),
        "collapse": _collapse_table(attacks, eps),
        **strong_table(results),
    }
    if attacks.get("transfer"):
        t = attacks["transfer"]
        tables["transfer"] = (
            ["attack", "source", "target", "eps", *INTERVAL, "target_sigma_mean"],
            [
                [t["attack"], src, tgt, e, *_interval(acc), t["sigma_mean"][src][tgt][i]]
                for src in MODELS
                for tgt in MODELS
                for i, (e, acc) in enumerate(zip(t["eps"], t["accuracy"][src][tgt]))
            ],
        )
    if attacks.get("fgsm_curve"):
        c = attacks["fgsm_curve"]
        tables["fgsm_curve"] = (
            ["model", "eps", *INTERVAL],
            [[m, e, *_interval(acc)] for m in MODELS for e, acc in zip(c["eps"], c[m])],
        )
    return tables


def _collapse_table(attacks: dict, eps: list) -> tuple[list, list]:
    """Per attack, model and eps, the classes the adversarial predictions fall into."""
    return (
        ["attack", "model", "eps", "predicted_class", "count", "share", "dominant", "rising"],
        [
            [
                a,
                m,
                eps[i],
                p["class"],
                p["count"],
                p["share"],
                p["class"] in c["dominant"],
                p["class"] in c["rising"],
            ]
            for a, per_model in attacks["collapse"].items()
            for m, per_eps in per_model.items()
            for i, c in enumerate(per_eps)
            for p in c["predicted"]
        ],
    )


def _interval(acc: dict) -> list:
    return [acc[k] for k in INTERVAL]
