"""The numbers of the activation-patching section, read from ``results["patching"]`` (issue 12):
which eps were patched, a kind's row at k, the random draws' mean and range, each layer's own
top eighth. Pure look-ups shared by the plots, the section's tables and the summary sentence."""

from __future__ import annotations

from typing import Any

from rnnviz.common.intervals import DRAW_SPREAD, draw_spread
from rnnviz.common.names import MODELS, layer_order

CURVES = ("sigma", "excess")  # the two rankings drawn against random channels
PATCHING_OFF = (
    "Activation patching was off in this run (--patch none), so the report does not test "
    "whether the sensitive channels cause the errors"
)
MIN_FLIPPED = 5  # fewer patched images flipped by the attack than this: no damage to undo, no causal result
MIN_DRAWS = 10  # fewer draws of a control than this: its 5-95% range is no spread to read a verdict from
SPREAD = f"{100 * DRAW_SPREAD[0]:.0f}–{DRAW_SPREAD[1]:.0%}"  # "5–95%": the range over draws the text quotes


def enabled(results: dict) -> bool:
    """Patching ran (``--patch none`` writes null; results from before patching have no key)."""
    return isinstance(results.get("patching"), dict)


def entry(results: dict, m: str, i: int | None) -> Any:  # validated JSON, or None
    if not enabled(results) or results["config"]["eps"][i] == 0:
        return None
    return results["patching"][m][i]


def patched(results: dict) -> list[int]:
    """Eps indices where at least one model was patched."""
    return [i for i in range(len(results["config"]["eps"])) if any(entry(results, m, i) for m in MODELS)]


def damaged(e: Any) -> bool:
    """The attack did damage (so there is damage to undo): some non-converse row has an undone."""
    return bool(e) and any(r.get("undone") is not None for r in e["sets"] if r["kind"] != "converse")


def ladder(e: dict, kind: str = "sigma") -> list[int]:
    return sorted({r["k"] for r in e["sets"] if r["kind"] == kind})


def row(e: dict, kind: str, k: int) -> Any:
    """The first row of ``kind`` at ``k`` (draw 0 for the ranked kinds)."""
    return next((r for r in e["sets"] if r["kind"] == kind and r["k"] == k), None)


def control(e: dict, kind: str, k: int) -> Any:  # dict or None
    """The matched control ``kind`` at k: draws, real size (``channels``), mean damage undone and its
    5-95% range over the draws; results.json's ``controls`` entry, or in a folder from before it,
    the same numbers from the draws' rows. None where no draw was made."""
    found = next((c for c in e.get("controls") or [] if c["kind"] == kind and c["k"] == k), None)
    if found is not None:
        return found
    rows = [r for r in e["sets"] if r["kind"] == kind and r["k"] == k]
    if not rows:
        return None
    values = [r["undone"] for r in rows if r.get("undone") is not None]
    return {
        "kind": kind,
        "k": k,
        "draws": len(rows),
        "channels": min(sum((r.get("layers") or {"": k}).values()) for r in rows),
        "undone_mean": sum(values) / len(values) if values else None,
        "undone_range": list(draw_spread(values)) if values else None,
    }


def random_stats(e: dict, k: int) -> Any:  # (mean, low, high, draws) or None
    """(mean, 5th, 95th percentile, draws) of damage undone by k random channels, or None."""
    c = control(e, "random", k)
    if c is None or c["undone_mean"] is None:
        return None
    return c["undone_mean"], c["undone_range"][0], c["undone_range"][1], c["draws"]


def control_gap(c: Any, k: int) -> str | None:
    """Why control ``c`` at k cannot carry a verdict, in words, or None where it can."""
    if c is None or c["draws"] == 0:
        return f"no control of {k} channels fits outside the top {k}"
    if c["channels"] != k:
        return f"its control patched only {c['channels']} channels, not {k}"
    if c["undone_mean"] is None:
        return "no damage to undo"
    if c["draws"] < MIN_DRAWS:
        return f"{c['draws']} control draw{'s' * (c['draws'] != 1)}, at least {MIN_DRAWS} needed for a spread"
    return None


def layer_rows(results: dict, e: dict) -> dict[str, dict]:
    """Layer -> its row for each layer's own top eighth, in network order."""
    rows = {r["layer"]: r for r in e["sets"] if r["kind"] == "layer"}
    return {la: rows[la] for la in layer_order(results["config"]["layers"], rows)}


def all_layers(results: dict) -> list[str]:
    names = [
        r["layer"]
        for m in MODELS
        for i in patched(results)
        if entry(results, m, i)
        for r in entry(results, m, i)["sets"]
        if r["kind"] == "layer"
    ]
    return layer_order(results["config"]["layers"], names)


def quoted_ks(results: dict, e: dict, kind: str = "sigma") -> list[int]:
    """The k every sentence quotes (page 1, the brief, slides, the sections): the ladder's k nearest
    config.top_k (the larger on a tie), then the largest k. A fixed rule, so no sentence picks the k
    that happens to look best."""
    ks = ladder(e, kind)
    if not ks:
        return []
    near = min(ks, key=lambda k: (abs(k - results["config"]["top_k"]), -k))
    return [near] if near == ks[-1] else [near, ks[-1]]


def flipped(e: Any) -> int:
    """Patched images the attack turned from right to wrong (net): what damage undone is a share of."""
    return round((e["accuracy_clean"] - e["accuracy_adv"]) * e["n_images"]) if e else 0


def causal(e: Any) -> bool:
    """The attack flipped enough patched images for damage undone to mean something."""
    return damaged(e) and flipped(e) >= MIN_FLIPPED
