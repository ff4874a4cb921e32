"""The numbers of the activation-patching section, read from ``results.patching`` (issue 12):
which eps were patched, a kind's row at k, the random draws' mean and range, each layer's own
top eighth. Pure look-ups shared by the plots, the section's tables and the summary sentence."""

from __future__ import annotations

from rnnviz.common.intervals import DRAW_SPREAD, draw_spread
from rnnviz.common.names import MODELS, layer_order
from rnnviz.results.model import Results
from rnnviz.results.model.patching import PatchControlSummary, PatchEntry, PatchSet
from rnnviz.results.model.run import RunConfig

CURVES = ("sigma", "excess")  # the two rankings drawn against random channels
PATCHING_OFF = (
    "Activation patching was off in this run (--patch none), so the report does not test "
    "whether the sensitive channels cause the errors"
)
MIN_FLIPPED = 5  # fewer patched images flipped by the attack than this: no damage to undo, no causal result
MIN_DRAWS = 10  # fewer draws of a control than this: its 5-95% range is no spread to read a verdict from
SPREAD = f"{100 * DRAW_SPREAD[0]:.0f}–{DRAW_SPREAD[1]:.0%}"  # "5–95%": the range over draws the text quotes


def enabled(results: Results) -> bool:
    """Patching ran (``--patch none`` writes null; results from before patching have no key)."""
    return results.patching is not None


def entry(results: Results, m: str, i: int) -> PatchEntry | None:
    """Model ``m``'s patching at eps index ``i``; None where patching was off, at eps 0 and where not patched."""
    if results.patching is None or results.config.eps[i] == 0:
        return None
    return results.patching.of(m)[i]


def patched(results: Results) -> list[int]:
    """Eps indices where at least one model was patched."""
    return [i for i in range(len(results.config.eps)) if any(entry(results, m, i) for m in MODELS)]


def damaged(e: PatchEntry | None) -> bool:
    """The attack did damage (so there is damage to undo): some non-converse row has an undone."""
    return e is not None and any(r.undone is not None for r in e.sets if r.kind != "converse")


def ladder(e: PatchEntry, kind: str = "sigma") -> list[int]:
    return sorted({r.k for r in e.sets if r.kind == kind})


def row(e: PatchEntry, kind: str, k: int) -> PatchSet | None:
    """The first row of ``kind`` at ``k`` (draw 0 for the ranked kinds)."""
    return next((r for r in e.sets if r.kind == kind and r.k == k), None)


def control(e: PatchEntry, kind: str, k: int) -> PatchControlSummary | None:
    """The matched control ``kind`` at k: draws, real size (``channels``), mean damage undone and its
    5-95% range over the draws; results.json's ``controls`` entry, or in a folder from before it,
    the same numbers from the draws' rows. None where no draw was made."""
    found = next((c for c in e.controls or [] if c.kind == kind and c.k == k), None)
    if found is not None:
        return found
    rows = [r for r in e.sets if r.kind == kind and r.k == k]
    if not rows:
        return None
    values = [r.undone for r in rows if r.undone is not None]
    return PatchControlSummary.model_validate(
        {
            "kind": kind,
            "k": k,
            "draws": len(rows),
            "channels": min(sum((r.layers or {"": k}).values()) for r in rows),
            "undone_mean": sum(values) / len(values) if values else None,
            "undone_range": draw_spread(values) if values else None,
        }
    )


def random_stats(e: PatchEntry, k: int) -> tuple[float, float, float, int] | None:
    """(mean, 5th, 95th percentile, draws) of damage undone by k random channels, or None."""
    c = control(e, "random", k)
    if c is None or c.undone_mean is None or c.undone_range is None:
        return None
    return c.undone_mean, c.undone_range[0], c.undone_range[1], c.draws


def control_gap(c: PatchControlSummary | None, k: int) -> str | None:
    """Why control ``c`` at k cannot carry a verdict, in words, or None where it can."""
    if c is None or c.draws == 0:
        return f"no control of {k} channels fits outside the top {k}"
    if c.channels != k:
        return f"its control patched only {c.channels} channels, not {k}"
    if c.undone_mean is None or c.undone_range is None:
        return "no damage to undo"
    if c.draws < MIN_DRAWS:
        return f"{c.draws} control draw{'s' * (c.draws != 1)}, at least {MIN_DRAWS} needed for a spread"
    return None


def layer_rows(config: RunConfig, e: PatchEntry) -> dict[str, PatchSet]:
    """Layer -> its row for each layer's own top eighth, in network order."""
    rows = {r.layer: r for r in e.sets if r.kind == "layer"}
    return {la: rows[la] for la in layer_order(config.layers, rows)}


def all_layers(results: Results) -> list[str]:
    names = [
        r.layer
        for m in MODELS
        for i in patched(results)
        if (e := entry(results, m, i))
        for r in e.sets
        if r.kind == "layer"
    ]
    return layer_order(results.config.layers, names)


def quoted_ks(config: RunConfig, e: PatchEntry, kind: str = "sigma") -> list[int]:
    """The k every sentence quotes (page 1, the brief, slides, the sections): the ladder's k nearest
    config.top_k (the larger on a tie), then the largest k. A fixed rule, so no sentence picks the k
    that happens to look best."""
    ks = ladder(e, kind)
    if not ks:
        return []
    near = min(ks, key=lambda k: (abs(k - config.top_k), -k))
    return [near] if near == ks[-1] else [near, ks[-1]]


def flipped(e: PatchEntry | None) -> int:
    """Patched images the attack turned from right to wrong (net): what damage undone is a share of."""
    return round((e.accuracy_clean - e.accuracy_adv) * e.n_images) if e is not None else 0


def causal(e: PatchEntry | None) -> bool:
    """The attack flipped enough patched images for damage undone to mean something."""
    return damaged(e) and flipped(e) >= MIN_FLIPPED
