"""How the report writes its numbers and names: percentages, eps in both units, intervals as text,
attack names. Imported by every text, figure and slide module; the sentences are in summary.py.
"""

from __future__ import annotations

from rnnviz.common.names import RANK_NAMES, eps_slugs
from rnnviz.results.model import Results
from rnnviz.results.model.channels import RankingEntry
from rnnviz.results.model.run import RunConfig


def pct(x: float) -> str:
    """A fraction as a percentage; one decimal below 10% so 0.6% does not read as 1%."""
    value = 100 * x
    if value < 10 and value != round(value):
        return f"{value:.1f}%"
    return f"{value:.0f}%"


def eps_text(config: RunConfig, i: int) -> str:
    """The i-th epsilon in both of its forms, e.g. ``0.1 (25.5/255)``."""
    return f"{config.eps_labels[i]} ({config.eps_255[i]})"


def slugs(config: RunConfig) -> list[str]:
    """One file-name slug per eps (``rnnviz.common.names.eps_slugs``, which the engine uses too)."""
    return eps_slugs({"eps": config.eps, "eps_labels": config.eps_labels})


def focus_index(results: Results) -> int:
    """The eps the summary talks about: the sweet spot, or the largest eps if there is none."""
    best = results.sweet_spot.best_index
    return best if best is not None and results.config.eps[best] > 0 else len(results.config.eps) - 1


def attack_label(name: str) -> str:
    """``pgd`` -> ``PGD``; the L2 attack, the APGD pair and the noise baseline by their own names."""
    return {"pgd-l2": "PGD (L2)", "apgd": "APGD-CE", "noise": "noise"}.get(name, name.upper())


def attack_name(config: RunConfig) -> str:
    """The primary attack, the one every single-attack figure and table uses."""
    return attack_label(config.attack[0])


def format_interval(ci, fmt: str = "{:.2g}") -> str:
    """``[lo, hi]`` as ``lo–hi``; a missing interval as ``no interval``."""
    return "no interval" if ci is None else f"{fmt.format(ci[0])}–{fmt.format(ci[1])}"


def measure_name(config: RunConfig) -> str:
    """What the top-k picks (``config.rank_by``), in words; the formula is the method's (``RANK_WORDS``)."""
    return RANK_NAMES.get(config.rank_by, "largest σ")


def ranked(results: Results, m: str, i: int) -> RankingEntry:
    """Model ``m``'s ranking at eps index ``i``, an attacked eps: results.json holds null only at eps 0,
    where nothing is ranked, and no caller asks there."""
    entry = results.ranking.of(m)[i]
    if entry is None:
        raise ValueError(f"no ranking at eps index {i} (eps 0 is never ranked)")
    return entry


NORM_NAMES = {"linf": "L∞", "l2": "L2"}  # an eps unit as the report prints it
