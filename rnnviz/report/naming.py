"""The eps part of a figure's key and file name, from the eps *value* as the run spelled it.

``gallery_eps-0.05_lucid.png`` says which eps it shows; an index (``gallery_eps1``) changes meaning
with the eps list. One function, used by every figure whose key carries an eps.
"""

from __future__ import annotations

import re


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
