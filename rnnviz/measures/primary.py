"""Which attack drives the analysis: the strongest one, unless the user names one.

With several attacks the ranking, patching, cards and galleries follow one of them. Following the
first listed lets a weak attack speak for the analysis; the default is the attack that leaves the
robust model least accurate at the largest eps (ties: the first listed), because that is the one
whose damage there is to explain. ``--primary-attack NAME`` overrides the rule.
"""

from __future__ import annotations

from dataclasses import replace

from rnnviz.common.names import MODELS


def strongest(names: list[str], robust_accuracy: dict[str, float]) -> str:
    """The attack with the lowest robust accuracy; ties go to the first of ``names``."""
    return min(names, key=lambda a: (robust_accuracy[a], names.index(a)))


def choose(cfg, by_attack: dict) -> dict:
    """results.json's ``primary_attack``: the chosen name, the rule, and the numbers behind it."""
    names = list(cfg.attack)
    largest = max(range(len(cfg.eps)), key=lambda e: cfg.eps[e])
    accuracy = {a: {m: float(by_attack[a][m].accuracy[largest]) for m in MODELS} for a in names}
    robust = {a: accuracy[a]["robust"] for a in names}
    name = cfg.primary or strongest(names, robust)
    return {
        "name": name,
        "rule": "chosen with --primary-attack" if cfg.primary else "lowest robust accuracy at the largest eps",
        "listed": names,
        "eps": float(cfg.eps[largest]),
        "accuracy_at_largest_eps": accuracy,
    }


def first(cfg, name: str):
    """``cfg`` with ``name`` first in its attack list (the list's first drives every later stage)."""
    return replace(cfg, attack=[name] + [a for a in cfg.attack if a != name])
