"""How the report writes its numbers and names: percentages, eps in both units, intervals as text,
attack names. Imported by every text, figure and slide module; the sentences are in summary.py.
"""

from __future__ import annotations

from rnnviz.common.names import RANK_NAMES


def pct(x: float) -> str:
    """A fraction as a percentage; one decimal below 10% so 0.6% does not read as 1%."""
    value = 100 * x
    if value < 10 and value != round(value):
        return f"{value:.1f}%"
    return f"{value:.0f}%"


def eps_text(results: dict, i: int) -> str:
    """The i-th epsilon in both of its forms, e.g. ``0.1 (25.5/255)``."""
    config = results["config"]
    return f"{config['eps_labels'][i]} ({config['eps_255'][i]})"


def focus_index(results: dict) -> int:
    """The eps the summary talks about: the sweet spot, or the largest eps if there is none."""
    best = results["sweet_spot"]["best_index"]
    return best if best is not None and results["config"]["eps"][best] > 0 else len(results["config"]["eps"]) - 1


def attack_label(name: str) -> str:
    """``pgd`` -> ``PGD``; the L2 attack, the APGD pair and the noise baseline by their own names."""
    return {"pgd-l2": "PGD (L2)", "apgd": "APGD-CE", "noise": "noise"}.get(name, name.upper())


def attack_name(results: dict) -> str:
    """The primary attack, the one every single-attack figure and table uses."""
    return attack_label(results["config"]["attack"][0])


def format_interval(ci, fmt: str = "{:.2g}") -> str:
    """``[lo, hi]`` as ``lo–hi``; a missing interval as ``no interval``."""
    return "no interval" if ci is None else f"{fmt.format(ci[0])}–{fmt.format(ci[1])}"


def measure_name(results: dict) -> str:
    """What the top-k picks (``config.rank_by``), in words; the formula is the method's (``RANK_WORDS``)."""
    return RANK_NAMES.get(results["config"]["rank_by"], "largest σ")


NORM_NAMES = {"linf": "L∞", "l2": "L2"}  # an eps unit as the report prints it
