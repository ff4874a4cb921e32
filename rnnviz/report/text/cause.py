"""Page 1's cause sentences: does putting back the clean values of the leading top-k undo the
attack's damage more than matched random channels do, at the ranked ε and where the damage is largest.

A control is a set of random channels in the same layer counts, or of similar clean |F| in the same
layers (``rnnviz.measures.patch_plan``), drawn many times; the verdict compares the top-k's interval
with the 5-95% range of the control's draws, never points alone. Every result says how many images
the attack flipped behind it; where it flipped too few, no control fits, or the draws are too few
for a spread, the text says there is no verdict and why.
"""

from __future__ import annotations

from rnnviz.common.names import MODELS
from rnnviz.report.text import patch_numbers as pn
from rnnviz.report.text.format import focus_index, pct, ranked
from rnnviz.results.model import Results
from rnnviz.results.model.patching import PatchEntry, PatchSet

CONTROLS = {"random": "random channels in the same layers", "magnitude": "channels of similar clean |F|"}


def cause_sentence(results: Results, m: str, i: int) -> str | None:
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


def cause_line(results: Results, full: bool = False) -> str:
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
            f"{_undone_text(v, full)} of the {m} model's damage {_on_flipped(pn.entry(results, m, i), short=not full)}"
            f"{_said(results, m, i, v, full)}"
            for m, v in found.items()
        ]
        parts += [_elsewhere(results, m, i) for m in MODELS if m not in found] if full else []
        eps = results.config.eps_labels[i]
        return f"At ε = {eps} restoring the top {' / '.join(map(str, ks))} channels undoes " + "; ".join(parts)
    return "The attack flipped too few patched images for a causal result at any ε"


Ladder = tuple[list[int], list[PatchSet], list[float]]  # quoted k, the leading top k's rows, random means


def _ladder_numbers(results: Results, m: str, i: int) -> Ladder | None:
    """Model ``m``'s quoted k at eps index ``i`` with their rows and random means, where the attack
    flipped enough patched images and each k has both; else None."""
    e = pn.entry(results, m, i)
    if e is None or not pn.causal(e):
        return None
    lead = ranked(results, m, i).measure
    found = [
        (k, top, rnd)
        for k in pn.quoted_ks(results.config, e, lead)
        if (top := _undone_at(e, lead, k)) and (rnd := pn.random_stats(e, k))
    ]
    if not found:
        return None
    return [k for k, _, _ in found], [top for _, top, _ in found], [rnd[0] for _, _, rnd in found]


def _on_flipped(e: PatchEntry | None, short: bool = False) -> str:
    """ "on the 6 images the attack flipped" ("on 6 flipped images" in a slide title): what a
    damage-undone share is a share of."""
    n = pn.flipped(e)
    return f"on {n} flipped image{'s' * (n != 1)}" if short else f"on the {n} image{'s' * (n != 1)} the attack flipped"


def _undone_text(numbers: Ladder, full: bool) -> str:
    """ "14% / 86% (random: 0% / 9.0%)"; ``full``: with the 95% intervals inside the brackets."""
    _, tops, random = numbers
    ranges = f"{_intervals(tops)}; " if full and _intervals(tops) else ""
    return f"{_values(tops)} ({ranges}random: {' / '.join(map(pct, random))})"


def _said(results: Results, m: str, i: int, numbers: Ladder, full: bool) -> str:
    """``full``: the verdict against both matched controls (section 4's), so page 1's numbers are read
    the way the section reads them."""
    e = pn.entry(results, m, i)
    if not full or e is None:
        return ""
    verdicts = _verdicts(e, list(zip(numbers[0], numbers[1])))
    return f" ({verdicts})"


def _values(tops: list[PatchSet]) -> str:
    return " / ".join(pct(_undone(top)) for top in tops)


def _undone(top: PatchSet) -> float:
    """A quoted row's damage undone (``_undone_at`` keeps only rows that have one)."""
    if top.undone is None:
        raise ValueError(f"no damage undone for the top {top.k}")
    return top.undone


def _intervals(tops: list[PatchSet]) -> str:
    """ "95% intervals 5.2–25% / 76–94%" for rows that all have one, else ""."""
    cis = [ci for top in tops if (ci := top.undone_ci)]
    if not cis or len(cis) < len(tops):
        return ""
    return f"95% interval{'s' * (len(cis) > 1)} {' / '.join(f'{pct(lo)[:-1]}–{pct(hi)}' for lo, hi in cis)}"


def _elsewhere(results: Results, m: str, i: int) -> str:
    """Why model ``m`` has no number at eps index ``i``, and its numbers where the attack flips the
    most of its patched images."""
    e = pn.entry(results, m, i)
    said = f"the {m} model: {_why_none(e)}" if e else f"the {m} model was not patched there"
    usable = [(j, v) for j in pn.patched(results) if j != i and (v := _ladder_numbers(results, m, j))]
    if usable:
        j, v = max(usable, key=lambda jv: pn.flipped(pn.entry(results, m, jv[0])))
        said += f"; at ε = {results.config.eps_labels[j]} its top {' / '.join(map(str, v[0]))} undo "
        said += f"{_undone_text(v, full=True)} {_on_flipped(pn.entry(results, m, j))}{_said(results, m, j, v, True)}"
    return said


def _why_none(e: PatchEntry) -> str:
    """Why a patched entry gives no causal result: no image patched, or too few flipped."""
    if e.n_images == 0:
        return "no image was patched (--patch-share picked none), so there is no verdict"
    return f"the attack flipped {pn.flipped(e)} of {e.n_images} patched images, too few for a verdict"


def _undone_at(e: PatchEntry, kind: str, k: int) -> PatchSet | None:
    top = pn.row(e, kind, k)
    return top if top is not None and top.undone is not None else None


def _verdict(results: Results, m: str, j: int, largest: bool) -> str | None:
    """The quoted k's damage undone with intervals, both controls' means and draw ranges beside them,
    and a verdict per k (the section's table holds every k)."""
    e, lead = pn.entry(results, m, j), ranked(results, m, j).measure
    if e is None:
        return None
    found = [(k, top) for k in pn.quoted_ks(results.config, e, lead) if (top := _undone_at(e, lead, k))]
    if not found:
        return None
    ks = [k for k, _ in found]
    where = f"At ε = {results.config.eps_labels[j]}, {_on_flipped(e)} (of {e.n_images} patched"
    where += "; the most at any ε)" if largest else ")"
    tops = [top for _, top in found]
    undone = _values(tops) + (f" ({_intervals(tops)})" if _intervals(tops) else "")
    against = "; ".join(f"{CONTROLS[kind]} {' / '.join(_control_text(e, kind, k) for k in ks)}" for kind in CONTROLS)
    return (
        f"{where}, putting back the clean values of the {m} model's top {' / '.join(map(str, ks))} undoes "
        f"{undone} of the damage, against {against}: {_verdicts(e, found)}"
    )


def _control_text(e: PatchEntry, kind: str, k: int) -> str:
    """ "9.0% (5–95% of 20 draws: 2.1–17%)"; a control of another size says its size, a missing one "none"."""
    c = pn.control(e, kind, k)
    if c is None or c.draws == 0:
        return "none"
    if c.undone_mean is None or c.undone_range is None:
        return "–"
    size = f"{c.channels} channels, not {k}; " if c.channels != k else ""
    lo, hi = c.undone_range
    return f"{pct(c.undone_mean)} ({size}{pn.SPREAD} of {c.draws} draws: {pct(lo)[:-1]}–{pct(hi)})"


def _verdicts(e: PatchEntry, found: list[tuple[int, PatchSet]]) -> str:
    """Each k's verdict against both matched controls, said once when all k agree."""
    by_verdict: dict[str, list[str]] = {}
    for k, top in found:
        by_verdict.setdefault(_one_k(e, k, top), []).append(str(k))
    return "; ".join(v if len(by_verdict) == 1 else f"{v} at k = {' and '.join(k)}" for v, k in by_verdict.items())


def _one_k(e: PatchEntry, k: int, top: PatchSet) -> str:
    """More or less than both controls only where the top-k's interval clears the control draws'
    spread: "more" needs its lower end above each control's 95th percentile over draws, "less" its
    upper end below each 5th percentile. No verdict where a control is missing, of another size, or
    has too few draws for a spread."""
    controls = {kind: pn.control(e, kind, k) for kind in CONTROLS}
    gaps = [gap for c in controls.values() if (gap := pn.control_gap(c, k))]
    if gaps:
        return f"no verdict ({gaps[0]})"
    low, high = top.undone_ci or (_undone(top), _undone(top))
    ranges = [c.undone_range for c in controls.values() if c is not None and c.undone_range is not None]
    if all(low > r[1] for r in ranges):
        return "more than both controls"
    if all(high < r[0] for r in ranges):
        return "less than both controls (these channels do not carry the damage)"
    return "not clearly more than the controls"


def _no_result(results: Results, m: str, missing: list[int]) -> str:
    labels = results.config.eps_labels
    entries = {j: e for j in missing if (e := pn.entry(results, m, j)) is not None}
    empty = [labels[j] for j, e in entries.items() if e.n_images == 0]
    few = [j for j, e in entries.items() if e.n_images > 0]
    said = []
    if empty:
        said.append(
            f"No causal result for the {m} model at ε = {', '.join(empty)}: no image was patched "
            "(--patch-share picked none), so there is no verdict"
        )
    if few:
        flips = ", ".join(f"{pn.flipped(entries[j])} of {entries[j].n_images} at ε = {labels[j]}" for j in few)
        said.append(
            f"No causal result for the {m} model at ε = {', '.join(labels[j] for j in few)}: the attack flipped "
            f"too few of the patched images ({flips}; at least {pn.MIN_FLIPPED} needed), so there is no verdict"
        )
    return ". ".join(said)
