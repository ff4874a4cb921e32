"""Page 1's cause sentences: does putting back the clean values of the leading top-k undo the
attack's damage more than matched random channels do, at the ranked ε and where the damage is largest.

A control is a set of random channels in the same layer counts, or of similar clean |F| in the same
layers (``rnnviz.measures.patch_plan``); the verdict compares intervals, never points alone.
"""

from __future__ import annotations

from rnnviz.common.names import MODELS
from rnnviz.report.text import patch_numbers as pn
from rnnviz.report.text.format import focus_index, pct

CONTROLS = {"random": "random channels in the same layers", "magnitude": "channels of similar clean |F|"}


def cause_sentence(results: dict, m: str, i: int) -> str | None:
    """Damage undone by the leading top-k against both matched controls at the ranked ε (or the
    nearest patched ε with damage to undo), again at the ε where the attack flips the most patched
    images if that is another one, and which ε have no causal result and why."""
    if not pn.enabled(results):
        return None
    patched = [j for j in pn.patched(results) if pn.entry(results, m, j)]
    usable = [j for j in [i] + [j for j in patched if j != i] if pn.causal(pn.entry(results, m, j))]
    said = []
    if usable:
        worst = max(usable, key=lambda j: (pn.flipped(pn.entry(results, m, j)), -usable.index(j)))
        verdicts = [_verdict(results, m, j, largest=j != usable[0]) for j in dict.fromkeys([usable[0], worst])]
        said = [v for v in verdicts if v]
    missing = [j for j in patched if j not in usable]
    if missing:
        said.append(_no_result(results, m, missing))
    return " ".join(f"{s}." for s in said) or None


def cause_line(results: dict, full: bool = False) -> str:
    """The short cause finding: the leading top k at the quoted k against as many random channels of
    the same layers, per model, at the focus ε or the first patched ε where the attack flipped enough
    images. ``full`` (page 1 of the brief) adds the intervals and, for a model without a result there,
    its ε where the attack flips the most; the patching slide's title stays short without, naming
    only the models with a result (its figure marks the others)."""
    if not pn.enabled(results):
        return pn.PATCHING_OFF
    order = list(dict.fromkeys([focus_index(results)] + pn.patched(results)))
    for i in order:
        found = {m: v for m in MODELS if (v := _ladder_numbers(results, m, i))}
        if not found:
            continue
        ks = next(iter(found.values()))[0]
        parts = [
            f"{_undone_text(v, full)} of the {m} model's damage{_said(results, m, i, v, full)}"
            for m, v in found.items()
        ]
        parts += [_elsewhere(results, m, i) for m in MODELS if m not in found] if full else []
        eps = results["config"]["eps_labels"][i]
        return f"At ε = {eps} restoring the top {' / '.join(map(str, ks))} channels undoes " + "; ".join(parts)
    return "The attack flipped too few patched images for a causal result at any ε"


Ladder = tuple[list[int], list[dict], list[float]]  # quoted k, the leading top k's rows, random means


def _ladder_numbers(results: dict, m: str, i: int) -> Ladder | None:
    """Model ``m``'s quoted k at eps index ``i`` with their rows and random means, where the attack
    flipped enough patched images and each k has both; else None."""
    e = pn.entry(results, m, i)
    if not pn.causal(e):
        return None
    lead = results["ranking"][m][i]["measure"]
    found = [
        (k, top, rnd)
        for k in pn.quoted_ks(results, e, lead)
        if (top := _undone_at(e, lead, k)) and (rnd := pn.random_stats(e, k))
    ]
    if not found:
        return None
    return [k for k, _, _ in found], [top for _, top, _ in found], [rnd[0] for _, _, rnd in found]


def _undone_text(numbers: Ladder, full: bool) -> str:
    """ "14% / 86% (random: 0% / 9.0%)"; ``full``: with the 95% intervals inside the brackets."""
    _, tops, random = numbers
    ranges = f"{_intervals(tops)}; " if full and _intervals(tops) else ""
    return f"{_values(tops)} ({ranges}random: {' / '.join(map(pct, random))})"


def _said(results: dict, m: str, i: int, numbers: Ladder, full: bool) -> str:
    """``full``: the verdict against both matched controls (section 4's), so page 1's numbers are read
    the way the section reads them."""
    if not full:
        return ""
    verdicts = _verdicts(pn.entry(results, m, i), list(zip(numbers[0], numbers[1])))
    return f" (controls: random and similar-|F| channels; {verdicts})"


def _values(tops: list[dict]) -> str:
    return " / ".join(pct(top["undone"]) for top in tops)


def _intervals(tops: list[dict]) -> str:
    """ "95% intervals 5.2–25% / 76–94%" for rows that all have one, else ""."""
    cis = [ci for top in tops if (ci := top.get("undone_ci"))]
    if not cis or len(cis) < len(tops):
        return ""
    return f"95% interval{'s' * (len(cis) > 1)} {' / '.join(f'{pct(lo)[:-1]}–{pct(hi)}' for lo, hi in cis)}"


def _elsewhere(results: dict, m: str, i: int) -> str:
    """Why model ``m`` has no number at eps index ``i``, and its numbers where the attack flips the
    most of its patched images."""
    e = pn.entry(results, m, i)
    said = (
        f"the {m} model: too few patched images flipped ({pn.flipped(e)} of {e['n_images']})"
        if e
        else f"the {m} model was not patched there"
    )
    usable = [(j, v) for j in pn.patched(results) if j != i and (v := _ladder_numbers(results, m, j))]
    if usable:
        j, v = max(usable, key=lambda jv: pn.flipped(pn.entry(results, m, jv[0])))
        said += (
            f"; at ε = {results['config']['eps_labels'][j]} ({pn.flipped(pn.entry(results, m, j))} flipped) its top "
        )
        said += f"{' / '.join(map(str, v[0]))} undo {_undone_text(v, full=True)}{_said(results, m, j, v, True)}"
    return said


def _undone_at(e: dict, kind: str, k: int) -> dict | None:
    top = pn.row(e, kind, k)
    return top if top is not None and top.get("undone") is not None else None


def _verdict(results: dict, m: str, j: int, largest: bool) -> str | None:
    """The quoted k's damage undone with intervals, both controls' means beside them, and a verdict per k
    (the section's table holds every draw and interval)."""
    e, lead = pn.entry(results, m, j), results["ranking"][m][j]["measure"]
    found = [(k, top) for k in pn.quoted_ks(results, e, lead) if (top := _undone_at(e, lead, k))]
    if not found:
        return None
    ks = [k for k, _ in found]
    where = f"At ε = {results['config']['eps_labels'][j]} ({e['n_images']} patched images"
    where += f"; the attack flips the most here, {pn.flipped(e)})" if largest else ")"
    tops = [top for _, top in found]
    undone = _values(tops) + (f" ({_intervals(tops)})" if _intervals(tops) else "")
    controls = {kind: [_control(e, kind, k) for k in ks] for kind in CONTROLS}
    against = "; ".join(
        f"{CONTROLS[kind]} {' / '.join(pct(c[0]) if c else '–' for c in cs)}"
        for kind, cs in controls.items()
        if any(cs)
    )
    return (
        f"{where}, putting back the clean values of the {m} model's top {' / '.join(map(str, ks))} undoes "
        f"{undone} of the damage, against {against or 'no control'}: {_verdicts(e, found)}"
    )


def _verdicts(e: dict, found: list[tuple[int, dict]]) -> str:
    """Each k's verdict against both matched controls, said once when all k agree."""
    by_verdict: dict[str, list[str]] = {}
    for k, top in found:
        matched = [c for kind in CONTROLS if (c := _control(e, kind, k))]
        by_verdict.setdefault(_one_k(top, matched), []).append(str(k))
    return "; ".join(v if len(by_verdict) == 1 else f"{v} at k = {' and '.join(k)}" for v, k in by_verdict.items())


def _one_k(top: dict, controls: list[tuple[float, float, float]]) -> str:
    """More or less than every control only where the intervals part: "more" must clear the highest
    end of any control draw's interval, "less" stay under the lowest, so neither rests on a point."""
    low, high = top.get("undone_ci") or [top["undone"], top["undone"]]
    if controls and all(low > c[1] for c in controls):
        return "more than both controls"
    if controls and all(high < c[2] for c in controls):
        return "less than both controls (these channels do not carry the damage)"
    return "not clearly more than the controls"


def _no_result(results: dict, m: str, missing: list[int]) -> str:
    labels, e0 = results["config"]["eps_labels"], pn.entry(results, m, missing[0])
    flips = ", ".join(f"{pn.flipped(pn.entry(results, m, j))} at ε = {labels[j]}" for j in missing)
    return (
        f"No causal result for the {m} model at ε = {', '.join(labels[j] for j in missing)}: the attack "
        f"flipped too few of the {e0['n_images']} patched images ({flips}; at least {pn.MIN_FLIPPED} needed)"
    )


def _control(e: dict, kind: str, k: int) -> tuple[float, float, float] | None:
    """A control's mean over its draws, the highest end any draw's interval reaches, and the lowest."""
    rows = [r for r in e["sets"] if r["kind"] == kind and r["k"] == k and r.get("undone") is not None]
    if not rows:
        return None
    ends = [r["undone_ci"] or [r["undone"], r["undone"]] for r in rows]
    mean = sum(r["undone"] for r in rows) / len(rows)
    return mean, max(end[1] for end in ends), min(end[0] for end in ends)
