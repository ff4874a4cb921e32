"""The section "Do the sensitive channels cause the errors?" (activation patching, issue 12): its
figures (drawn by ``patch_plots``) with their captions, and its tables, already formatted."""

from __future__ import annotations

from pathlib import Path

from rnnviz.common.names import MODELS
from rnnviz.report.figures import patching as patch_plots
from rnnviz.report.text import patch_numbers as pn
from rnnviz.report.text.format import format_interval, measure_name, pct
from rnnviz.results.model import Results
from rnnviz.results.model.patching import PatchEntry, PatchSet


def figures(results: Results, root: Path, make) -> list:
    """The section's figures in reading order; ``make`` is the catalogue's figure factory."""
    if not pn.patched(results):
        return []
    patch_plots.undone_plot(results, root, "patching_undone")
    patch_plots.layer_plot(results, root, "patching_layers")
    level, measure = f"{100 * results.bootstrap.level:.0f}%", measure_name(results.config)
    return [
        make(
            root,
            "patching_undone",
            "Damage undone by putting back the clean values of k channels",
            "In the adversarial forward pass the chosen channels' outputs are replaced by their clean "
            "values for the same image; damage undone = (accuracy patched − accuracy under attack) / "
            "(clean accuracy − accuracy under attack), so 0% changes nothing and 100% restores the clean "
            "accuracy. Solid: the top k by σ; dashed: the top k by excess σ − σ_noise; dash-dot: the top k by "
            f"the ranking this report leads with, {measure}, where it is another (error bars: {level} bootstrap "
            f"interval); grey: k random channels of the same layers, mean with the {pn.SPREAD} band over the "
            "seeded draws. One row per model, one column per attacked ε; x is "
            "logarithmic. Patching a channel changes everything downstream of it, so channels in "
            "several layers are patched in the same pass. Values slightly below 0% or above 100% "
            "occur because patching can also break a correct prediction.",
            plot=True,
        ),
        make(
            root,
            "patching_layers",
            "Where does the damage enter? Each layer's own top eighth of its channels",
            f"Damage undone when only one layer's top eighth of its channels by {measure} (the same share "
            "of every layer) is put back to its clean values, per model and attacked ε (darker: larger ε; "
            f"an ε where fewer than {pn.MIN_FLIPPED} patched images flipped has no bar), layers in network "
            f"order; error bars give the {level} bootstrap interval. A tall bar early in the network means the "
            "damage already sits there and is carried downstream; a bar that rises late means the "
            "damage enters there.",
            plot=True,
        ),
    ]


def context(results: Results) -> dict:
    config = results.config
    if not pn.enabled(results):
        return {"enabled": False}
    idx = pn.patched(results)
    first = next((e for i in idx for m in MODELS if (e := pn.entry(results, m, i))), None)
    entries = [(m, i, e) for m in MODELS for i in idx if (e := pn.entry(results, m, i))]
    return {
        "enabled": True,
        "any": bool(idx),
        "n_images": first.n_images if first else 0,
        "share": pct(1.0 if config.patch_share is None else config.patch_share),
        "draws": config.patch_draws,
        "ladder": "" if config.patch is None else config.patch,
        "rows": _rows(results, idx),
        "layer_eps": [config.eps_labels[i] for i in idx],
        "layer_rows": _layer_rows(results, idx),
        "spared": [f"{m} at ε = {config.eps_labels[i]}" for m, i, e in entries if e.n_images and not pn.damaged(e)],
        "unpatched": [f"{m} at ε = {config.eps_labels[i]}" for m, i, e in entries if not e.n_images],
        "min_draws": pn.MIN_DRAWS,
        "spread": pn.SPREAD,
    }


def _cell(r: PatchSet | None) -> str:
    if r is None or r.undone is None:
        return "–"
    ci = r.undone_ci
    return pct(r.undone) + ("" if ci is None else f" ({format_interval(ci, '{:.0%}')})")


def _rows(results: Results, idx: list[int]) -> list[dict]:
    labels, rows = results.config.eps_labels, []
    for m in MODELS:
        for i in idx:
            e = pn.entry(results, m, i)
            if not e:
                continue
            ks = sorted(
                set(pn.ladder(e))
                | set(pn.ladder(e, "excess"))
                | set(pn.ladder(e, "random"))
                | set(pn.ladder(e, "converse"))
            )
            for k in ks:
                conv = pn.row(e, "converse", k)
                rows.append(
                    {
                        "model": m,
                        "eps": labels[i],
                        "k": k,
                        "first": k == ks[0],
                        "span": len(ks),
                        "damage": pct(e.accuracy_clean - e.accuracy_adv),
                        "sigma": _cell(pn.row(e, "sigma", k)),
                        "excess": _cell(pn.row(e, "excess", k)),
                        "flips": pn.flipped(e),
                        "random": _draws(e, "random", k),
                        "lead": _cell(pn.row(e, results.config.rank_by, k)),
                        "magnitude": _draws(e, "magnitude", k),
                        "flipped": "–" if conv is None or conv.flipped is None else pct(conv.flipped),
                    }
                )
    return rows


def _draws(e: PatchEntry, kind: str, k: int) -> str:
    """Mean [5–95%] damage undone over the draws of a control ``kind`` at k; a control of another size
    says its size, and a k without one says so."""
    c = pn.control(e, kind, k)
    if c is None or c.draws == 0:
        return "none fits" if k in pn.ladder(e) else "–"
    if c.undone_mean is None or c.undone_range is None:
        return "–"
    size = "" if c.channels == k else f" ({c.channels} ch.)"
    lo, hi = c.undone_range
    return f"{pct(c.undone_mean)} [{pct(lo)}–{pct(hi)}]{size}"


def _layer_rows(results: Results, idx: list[int]) -> list[dict]:
    out = []
    for la in pn.all_layers(results):
        cells = []
        for i in idx:
            cell = {}
            for m in MODELS:
                e = pn.entry(results, m, i)
                r = pn.layer_rows(results.config, e).get(la) if e else None
                cell[m] = pct(r.undone) if r and r.undone is not None and pn.causal(e) else "–"
            cells.append(cell)
        out.append({"layer": la, "cells": cells})
    return out
