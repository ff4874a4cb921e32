"""The ladder's numbers, read from its pair folders' results.json: one row per model, in ladder order.

Nothing here measures: every value is a number a pair's results.json holds (or a mean of them), so
the ladder figure and page 1 say only what the pair runs measured. The least robust model (rung 0)
is the reference of every pair: its own numbers come from the first pair, where it is "standard".
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnviz.report.text import patch_numbers as pn
from rnnviz.results.model import Results


@dataclass(frozen=True)
class Estimate:
    """A value with its interval (95%, or a stated range); ``low``/``high`` None where there is none."""

    value: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Undone:
    """Patching: the share of the attack's damage that restoring the model's top-k channels undoes."""

    k: int
    undone: Estimate  # with its 95% interval
    random: Estimate | None  # k random channels in the same layers: mean, with the 5-95% range of its draws


@dataclass(frozen=True)
class RungNumbers:
    """One model's numbers per eps of the grid (None at eps 0 and where not measured)."""

    accuracy: list[Estimate]  # under the strongest attack measured, with its Wilson interval
    sigma_ratio: list[Estimate | None]  # reference / this model's mean relative sigma, paired bootstrap interval
    noise_share: list[Estimate | None]  # the top-k's mean sigma_noise / sigma, with their range (not an interval)
    undone: list[Undone | None]
    cka: dict[str, float] | None  # linear CKA with the reference at each layer (None for the reference)
    smoothness: Estimate | None  # high-frequency share of the top channels' renders (lower: smoother), range


def rung_numbers(pair: Results, role: str, focus: int) -> RungNumbers:
    """Model ``role`` ("standard": the reference; "robust": the rung) of one pair's results."""
    n = len(pair.config.eps)
    rung = role == "robust"
    return RungNumbers(
        accuracy=strongest(pair, role),
        sigma_ratio=[_ratio(pair, i) if rung else None for i in range(n)],
        noise_share=[_noise_share(pair, role, i) for i in range(n)],
        undone=[_undone(pair, role, i) for i in range(n)],
        cka=_cka(pair) if rung else None,
        smoothness=_smoothness(pair, role, focus),
    )


def strongest(pair: Results, role: str) -> list[Estimate]:
    """Accuracy under the strongest attack measured (APGD-CE/T with the analysis attacks), else the
    analysis attack's own."""
    strong = pair.strong_attack.models.get(role) if pair.strong_attack else None
    if strong is not None:
        return [Estimate(a, lo, hi) for a, (lo, hi) in zip(strong.accuracy, strong.interval)]
    wilson = pair.attacks.accuracy[pair.config.attack[0]].of(role)
    return [Estimate(w.accuracy, w.low, w.high) for w in wilson]


def strongest_name(pair: Results) -> str:
    """The attack :func:`strongest` reads, in words."""
    if pair.strong_attack and pair.strong_attack.models:
        analysis = ", ".join(a.upper() for a in pair.attacks.names)
        return f"the strongest attack measured (APGD-CE, APGD-T and {analysis})"
    return pair.config.attack[0].upper()


def _ratio(pair: Results, i: int) -> Estimate | None:
    c = pair.comparison[i]
    if c is None:
        return None
    return Estimate(c.ratio, *(c.ratio_ci or (None, None)))


def _noise_share(pair: Results, role: str, i: int) -> Estimate | None:
    entry = pair.ranking.of(role)[i]
    shares = [row.noise_ratio for row in entry.top] if entry else []
    if not shares:
        return None
    return Estimate(sum(shares) / len(shares), min(shares), max(shares))


def _undone(pair: Results, role: str, i: int) -> Undone | None:
    """Damage undone by the top-k at the k every sentence quotes first (the patched k nearest
    --top-k), where the attack flipped enough patched images for a verdict."""
    e = pn.entry(pair, role, i)
    ranking = pair.ranking.of(role)[i]
    if e is None or ranking is None or not pn.causal(e):
        return None
    ks = pn.quoted_ks(pair.config, e, ranking.measure)
    top = pn.row(e, ranking.measure, ks[0]) if ks else None
    if top is None or top.undone is None:
        return None
    low, high = top.undone_ci or (None, None)
    random = pn.random_stats(e, ks[0])
    return Undone(ks[0], Estimate(top.undone, low, high), Estimate(*random[:3]) if random else None)


def _cka(pair: Results) -> dict[str, float] | None:
    """Each layer's CKA between the reference and the rung (the diagonal of the pair's CKA matrix)."""
    m = pair.matching
    if m is None:
        return None
    diagonal = {layer: m.cka[j][j] for j, layer in enumerate(m.layers)}
    return {layer: value for layer, value in diagonal.items() if value is not None}


def _smoothness(pair: Results, role: str, focus: int) -> Estimate | None:
    """Mean high-frequency share of the lucid renders of the model's top-k at eps index ``focus``."""
    entry = pair.ranking.of(role)[focus]
    top = {(row.layer, row.channel) for row in entry.top} if entry else set()
    renders = [r for r in pair.renders if r.model == role and r.recipe == "lucid" and (r.layer, r.channel) in top]
    shares = [r.high_frequency_share for r in renders if r.high_frequency_share is not None]
    if not shares:
        return None
    return Estimate(sum(shares) / len(shares), min(shares), max(shares))
