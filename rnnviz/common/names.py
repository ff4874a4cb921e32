"""The names engine and renderer share: one home each, and no torch import.

results.json carries these strings; the report, the CLI, the config check and the test
fixture all read them from here.
"""

from __future__ import annotations

import math
import re

SCHEMA_VERSION = 3  # of results.json; bump on any rename (docs/results-schema.md)
MODELS = ("standard", "robust")  # the two roles of a pair, in the order the report shows them
ATTACKS = ("fgsm", "pgd", "pgd-l2")  # --attack takes a list; the first drives ranking and patching
NORMS = {"fgsm": "linf", "pgd": "linf", "pgd-l2": "l2"}  # the unit each attack reads its eps in
RECIPES = ("lucid", "raw", "accent")  # feature-visualization recipes (rnnviz.channels.featvis)
QUALITIES = ("none", "draft", "standard", "high")  # "none" skips rendering
# What a channel ranking ranks by (rnnviz.measures.rank_measures), the default first, and in words
RANK_BY = ("zscore", "relative-excess", "excess", "relative", "sigma")
RANK_WORDS = {
    "sigma": "σ",
    "excess": "excess σ − σ_noise",
    "relative": "relative σ (σ / clean mean |F|)",
    "relative-excess": "relative excess (σ − σ_noise) / clean mean |F|",
    "zscore": "excess over matched noise standardised within each layer, (σ − σ_noise − layer mean) / layer SD",
}

# Okabe-Ito: colour-blind safe. Plots, image grids, the HTML (through its context) and slides.
COLOURS = {"standard": "#D55E00", "robust": "#0072B2"}
# Colour alone is lost in greyscale print and to colour-blind readers, so a model is also told by
# its marker: shape and fill (standard hollow circle, robust filled square), and by hatching where
# it is drawn as bars or areas. Line dash is kept for the *attack* (PGD solid, FGSM dashed), so
# one line shows both: its marker names the model, its dash the attack.
MARKERS = {"standard": "o", "robust": "s"}
MARKER_FILL = {"standard": "white", "robust": None}  # face colour; None: the model's own colour
HATCHES = {"standard": "///", "robust": ""}
DASHES = {"pgd": "-", "fgsm": "--", "pgd-l2": "-."}  # per attack; any other attack dotted
# Right / wrong verdicts in the example grids: bluish green against a dark wine (Tol), apart in
# lightness in greyscale and under deuteranopia, and unlike either model colour; a wrong verdict
# is also a filled badge, a right one an outlined badge.
RIGHT, WRONG, INK, MUTED = "#009E73", "#882255", "#222222", "#666666"


def slug(text: str) -> str:
    """A file-name-safe, lower-case form of ``text`` (``layer3.1`` -> ``layer3-1``)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def layer_order(configured: list[str] | None, layers) -> list[str]:
    """``layers`` in the configured (network) order, then any the config does not list."""
    present = list(dict.fromkeys(layers))
    known = [layer for layer in configured or [] if layer in present]
    return known + [layer for layer in present if layer not in known]


def non_monotone(accuracy: list[float], eps: list[float]) -> list[tuple[int, int]]:
    """Index pairs (a, b) of neighbouring eps (a < b) where accuracy rises with eps.

    FGSM is not monotone in eps (one linear step can overshoot); the report says so where it happens.
    """
    order = sorted(range(len(eps)), key=lambda i: eps[i])
    return [
        (a, b)
        for a, b in zip(order, order[1:])
        if accuracy[b] > accuracy[a] + 1e-9 and not math.isclose(eps[a], eps[b])
    ]


# The eps part of a file name, from the eps *value* as the run spelled it: ``gallery_eps-0.05_lucid.png``
# says which eps it shows; an index (``gallery_eps1``) changes meaning with the eps list.
def eps_slug(eps: str | float) -> str:
    """``0.05`` -> ``eps-0.05``, ``"4/255"`` -> ``eps-4_255``: file-name safe, the display form kept."""
    text = eps if isinstance(eps, str) else f"{eps:g}"
    return "eps-" + (re.sub(r"[^0-9A-Za-z.+-]+", "_", text.strip()).strip("_") or "x")


def eps_slugs(config: dict) -> list[str]:
    """One slug per eps of ``config`` (its ``eps_labels``), unique: a clash gets the index appended."""
    labels = config.get("eps_labels") or [f"{e:g}" for e in config["eps"]]
    out: list[str] = []
    for i, label in enumerate(labels):
        s = eps_slug(label)
        out.append(f"{s}-{i}" if s in out else s)
    return out
