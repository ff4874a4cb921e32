"""Page 1's cause sentences: does putting back the clean values of the leading top-k undo the
attack's damage more than matched random channels do, at the ranked ε and where the damage is largest.

A control is a set of random channels in the same layer counts, or of similar clean |F| in the same
layers (``rnnviz.measures.patch_plan``); the verdict compares intervals, never points alone.
"""

from __future__ import annotations

from rnnviz.report.text import patch_numbers as pn
from rnnviz.report.text.format import pct

MIN_FLIPPED = 5  # fewer images flipped by the attack than this: no damage to undo, no causal result
CONTROLS = {"random": "random channels in the same layers", "magnitude": "channels of similar clean |F|"}


def cause_sentence(results: dict, m: str, i: int) -> str | None:
    """Damage undone by the leading top-k against both matched controls at the ranked ε (or the
    nearest patched ε with damage to undo), again at the ε where the attack flips the most patched
    images if that is another one, and which ε have no causal result and why."""
    if not pn.enabled(results):
        return None
    patched = [j for j in pn.patched(results) if pn.entry(results, m, j)]
    usable = [j for j in [i] + [j for j in patched if j != i] if flipped(pn.entry(results, m, j)) >= MIN_FLIPPED]
    said = []
    if usable:
        worst = max(usable, key=lambda j: (flipped(pn.entry(results, m, j)), -usable.index(j)))
        verdicts = [_verdict(results, m, j, largest=j != usable[0]) for j in dict.fromkeys([usable[0], worst])]
        said = [v for v in verdicts if v]
    missing = [j for j in patched if j not in usable]
    if missing:
        said.append(_no_result(results, m, missing))
    return " ".join(f"{s}." for s in said) or None


def flipped(e) -> int:
    """Patched images the attack turned from right to wrong (net)."""
    return round((e["accuracy_clean"] - e["accuracy_adv"]) * e["n_images"]) if e else 0


def _verdict(results: dict, m: str, j: int, largest: bool) -> str | None:
    e, lead = pn.entry(results, m, j), results["ranking"][m][j]["measure"]
    k = min(pn.ladder(e, lead) or [0], key=lambda k: abs(k - results["config"]["top_k"]))
    top = pn.row(e, lead, k)
    if top is None or top.get("undone") is None:
        return None
    controls = {kind: c for kind in CONTROLS if (c := _control(e, kind, k))}
    low, high = top.get("undone_ci") or [top["undone"], top["undone"]]
    if controls and all(low > c[2] for c in controls.values()):
        verdict = "more than both controls"
    elif controls and all(high < c[1] for c in controls.values()):
        verdict = "less than both controls (these channels do not carry the damage)"
    else:
        verdict = "not clearly more than the controls"
    where = f"At ε = {results['config']['eps_labels'][j]}"
    if largest:
        where += f", where the attack flips the most patched images ({flipped(e)} of {e['n_images']})"
    against = " and ".join(f"{c[0]} for {CONTROLS[kind]}" for kind, c in controls.items()) or "no control"
    return (
        f"{where}, putting back the clean values of the {m} model's top {k} undoes {pct(top['undone'])}"
        f"{interval(top.get('undone_ci'))} of the damage ({e['n_images']} patched images), against {against}: {verdict}"
    )


def _no_result(results: dict, m: str, missing: list[int]) -> str:
    labels, e0 = results["config"]["eps_labels"], pn.entry(results, m, missing[0])
    flips = ", ".join(f"{flipped(pn.entry(results, m, j))} at ε = {labels[j]}" for j in missing)
    return (
        f"No causal result for the {m} model at ε = {', '.join(labels[j] for j in missing)}: the attack "
        f"flipped too few of the {e0['n_images']} patched images ({flips}; at least {MIN_FLIPPED} needed)"
    )


def _control(e: dict, kind: str, k: int) -> tuple[str, float, float] | None:
    """A control in words (mean over draws, with the draws' highest interval end), its mean, and
    the highest value any draw's interval reaches."""
    rows = [r for r in e["sets"] if r["kind"] == kind and r["k"] == k and r.get("undone") is not None]
    if not rows:
        return None
    mean = sum(r["undone"] for r in rows) / len(rows)
    high = max((r["undone_ci"] or [r["undone"], r["undone"]])[1] for r in rows)
    return f"{pct(mean)} (highest interval end {pct(high)}, {len(rows)} draws)", mean, high


def interval(ci) -> str:
    """ " (95% interval a–b%)" for a damage-undone interval, or nothing when there is none."""
    return f" (95% interval {pct(ci[0])[:-1]}–{pct(ci[1])})" if ci else ""
