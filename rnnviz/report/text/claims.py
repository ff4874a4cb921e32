"""Page 1's claims about robustness and replication, each read from results.json.

Robust accuracy is quoted from the strongest attack run (``strong_attack``: each image's worst case
over APGD-CE, APGD-T and the analysis attacks); a weaker attack's number is an upper bound, so the
brief says where it overstates the strongest beyond its own interval and where accuracy rises with
eps (a sign of gradient masking). A statement about named channels says whether they came back in a
model trained from another seed, against what a random draw gives, or that this is untested.
"""

from __future__ import annotations

from rnnviz.common.names import MODELS, non_monotone
from rnnviz.report.text.format import attack_label, pct
from rnnviz.results.model import Results
from rnnviz.results.model.accuracy import StrongAccuracy, StrongAttack
from rnnviz.results.model.matching import CarriedTopK, ReplicaComparison, ReplicaPair, Replication

UNTESTED = (
    "Whether these channels are the same in a model trained from another seed is untested "
    "(--replicate, or --preset fashion-seeds, measures it)"
)
CHANCE_LEVEL = 0.05  # a matched overlap replicates when a random draw reaches it less often than this


def measured(strong: StrongAttack | None) -> StrongAttack | None:
    """results.json's strong evaluation where it measured every model (None: off, skipped or an older folder)."""
    strong = strong
    return strong if strong and all(m in strong.models for m in MODELS) else None


def strongest_label(strong: StrongAttack) -> str:
    """The strongest attack in words: its components and the analysis attacks it takes the worst case over."""
    parts = [attack_label(c) for c in strong.settings.components]
    parts += [attack_label(a) for a in strong.analysis or []]
    return "the worst case per image over " + _join(parts)


def strongest_sentence(results: Results) -> str | None:
    """Each model's accuracy under the strongest attack measured, at every attacked eps."""
    strong = measured(results.strong_attack)
    if not strong:
        return None
    eps, labels = results.config.eps, results.config.eps_labels
    attacked = [i for i, e in enumerate(eps) if e > 0]
    parts = []
    for m in MODELS:
        entry = strong.models[m]
        values = [_with_interval(entry, i) for i in attacked]
        if len(set(values)) == 1 and len(values) > 1:
            parts.append(f"the {m} model keeps {values[0]} at every ε")
        else:
            parts.append(f"the {m} model keeps {_join([f'{v} at ε = {labels[i]}' for v, i in zip(values, attacked)])}")
    return f"Under the strongest attack measured ({strongest_label(strong)}; {_count(strong)}), {'; '.join(parts)}."


def overstated_sentence(results: Results) -> str | None:
    """Where an analysis attack's accuracy lies above the strongest's beyond its own interval."""
    strong, attacks = measured(results.strong_attack), results.attacks
    if not strong or not attacks:
        return None
    labels, found = results.config.eps_labels, []
    for a in attacks.names:
        per_model = []
        for m in MODELS:
            entries = attacks.accuracy[a].of(m)
            over = [
                f"{labels[i]} ({pct(e.accuracy)} vs {pct(strong.models[m].accuracy[i])})"
                for i, e in enumerate(entries)
                if e.low > strong.models[m].accuracy[i] + 1e-12
            ]
            if over:
                per_model.append(f"the {m} model at ε = {_join(over)}")
        if per_model:
            found.append(f"{attack_label(a)} for {' and '.join(per_model)}")
    if not found:
        return (
            "No attack of the analysis overstates accuracy beyond its interval against the strongest attack measured."
        )
    return (
        f"Weaker attacks overstate accuracy beyond their own intervals (read them as upper bounds): {'; '.join(found)}."
    )


def masking_sentence(results: Results) -> str | None:
    """Where accuracy rises with eps on a grid (the fine FGSM grid, every attack's grid) beyond the
    lower eps's Wilson interval: one step of an attack can overshoot, or gradients can be masked;
    either way that attack underestimates. A rise of a few images inside the interval is not evidence."""
    attacks, found = results.attacks, []
    grids = [(a, results.config.eps, {m: attacks.accuracy[a].of(m) for m in MODELS}) for a in attacks.names]
    curve = attacks.fgsm_curve
    if curve:
        grids.append(("fgsm", curve.eps, {"standard": curve.standard, "robust": curve.robust}))
    for a, eps, per_model in grids:
        for m in MODELS:
            acc = [e.accuracy for e in per_model[m]]
            runs = [(x, y) for x, y in _runs(acc, eps) if acc[y] > per_model[m][x].high]
            rises = [f"ε {eps[x]:g} → {eps[y]:g}: {pct(acc[x])} → {pct(acc[y])}" for x, y in runs]
            if rises:
                found.append(f"{attack_label(a)} for the {m} model ({' and '.join(rises)})")
    if not found:
        return None
    unique = list(dict.fromkeys(found))
    return f"Accuracy rises with ε, so the attack overshoots or gradients are masked: {'; '.join(unique)}."


def _runs(acc: list[float], eps: list[float]) -> list[tuple[int, int]]:
    """Neighbouring rises joined into runs: 0.1 → 0.11 and 0.11 → 0.12 read as 0.1 → 0.12."""
    runs: list[tuple[int, int]] = []
    for x, y in non_monotone(acc, eps):
        if runs and runs[-1][1] == x:
            runs[-1] = (runs[-1][0], y)
        else:
            runs.append((x, y))
    return runs


def replication_sentence(rep: Replication | None, i: int) -> str:
    """Do the named channels and the cross-model ratio come back in a pair trained from another seed?"""
    rep = rep
    if not rep or len(rep.pairs) < 2:
        return f"{UNTESTED}."
    first, parts = rep.pairs[0], []
    for n, pair in enumerate(rep.pairs[1:], start=2):
        overlaps = [_overlap_verdict(m, o, said=bool(k)) for k, (m, o) in enumerate(_overlaps(pair, i))]
        if overlaps:
            parts.append(f"carried into pair {n}'s models by the channel matching, {' and '.join(overlaps)}")
        ratio = _ratio_verdict(first.comparison[i], pair.comparison[i], n)
        if ratio:
            parts.append(ratio)
    if not parts:
        return f"{UNTESTED}."
    return f"Across training seeds (pair 1 is this run's; {len(rep.pairs) - 1} more): {'; '.join(parts)}."


def _overlaps(pair: ReplicaPair, i: int) -> list[tuple[str, CarriedTopK]]:
    """(model, overlap entry) at eps index ``i`` where the pair has a chance level to judge it by."""
    found = []
    for m in MODELS:
        per_eps = pair.overlap.of(m) if pair.overlap else None
        o = (per_eps or [None] * (i + 1))[i]
        if o is not None and o.chance_jaccard is not None:
            found.append((m, o))
    return found


def _overlap_verdict(m: str, o: CarriedTopK, said: bool) -> str:
    """One model's matched overlap against chance; ``said``: the first model already named the measure."""
    verdict = (
        "replicates" if o.p_chance is not None and o.p_chance < CHANCE_LEVEL else "does not replicate beyond chance"
    )
    numbers = f"{o.matched_jaccard:.2f} against {o.chance_jaccard:.2f}"
    if said:
        return f"the {m} model's by {numbers} (p = {o.p_chance:.2g}): it {verdict}"
    return (
        f"the {m} model's top {o.k} overlaps that model's own top {o.k} by Jaccard {numbers} for a "
        f"random draw (p = {o.p_chance:.2g}): it {verdict}"
    )


def _ratio_verdict(a: ReplicaComparison | None, b: ReplicaComparison | None, n: int) -> str | None:
    if not a or not b or not a.ratio_ci or not b.ratio_ci or a.ratio is None or b.ratio is None:
        return None
    (alo, ahi), (blo, bhi) = a.ratio_ci, b.ratio_ci
    same_side = (alo > 1 and blo > 1) or (ahi < 1 and bhi < 1)
    apart = alo > bhi or blo > ahi
    size = "its size does not (disjoint intervals)" if apart else "and so does its size"
    direction = f"the direction replicates, {size}" if same_side else "its direction does not replicate"
    return (
        f"the standard / robust ratio is {a.ratio:.2f}× ({alo:.2f}–{ahi:.2f}) in pair 1 and "
        f"{b.ratio:.2f}× ({blo:.2f}–{bhi:.2f}) in pair {n}: {direction}"
    )


def _with_interval(entry: StrongAccuracy, i: int) -> str:
    low, high = entry.interval[i]
    return f"{pct(entry.accuracy[i])} ({pct(low)[:-1]}–{pct(high)})"


def _count(strong: StrongAttack) -> str:
    s = strong.settings
    targets = f"{s.targets} target class{'' if s.targets == 1 else 'es'}"
    return f"{s.iterations} iterations, {targets} for APGD-T"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
