"""Validation of ``patching`` (activation patching, issue 12) and its config keys (called by
``validate``; same one-line errors naming the field).

``patching`` is null (``--patch none``; a folder from before patching has no key) or one list per
model of len(config.eps) entries, null at eps = 0 and where not patched; each entry's ``sets`` have
a kind from KINDS, k >= 1, accuracies in [0, 1], a finite ``undone`` or null (it may fall slightly
outside [0, 1]) with a ``[lo, hi]`` interval or null, and ``flipped`` in [0, 1] or null for the converse.
"""

from __future__ import annotations

from rnnviz.common.names import MODELS, RANK_BY
from rnnviz.report.validate.ranking import _interval, _optional_number

KINDS = (*RANK_BY, "random", "magnitude", "layer", "converse")
UNDONE = 1e6  # (patched - adv) / (clean - adv): large only where the damage is tiny


def validate_patching(c, results: dict, n: int) -> None:
    config = results["config"]
    c.text(config, "patch", "config", optional=True)
    c.integer(config, "patch_draws", "config", optional=True)
    if config.get("patch_share") is not None:
        c.number(config["patch_share"], "config.patch_share", 0, 1)
    patching = results.get("patching")
    if patching is None:
        return
    if not isinstance(patching, dict):
        c.fail("patching", patching, "an object or null")
    for name in patching:
        if name not in MODELS:
            c.fail(f"patching.{name}"[:80], name, "a model role: " + ", ".join(MODELS))
    for m in MODELS:
        for i, entry in enumerate(c.list(patching, m, "patching", n)):
            path = f"patching.{m}[{i}]"
            if entry is None:
                continue
            if config["eps"][i] == 0:
                c.fail(path, entry, "null at eps = 0 (nothing is patched there)")
            if not isinstance(entry, dict):
                c.fail(path, entry, "an object or null")
            _entry(c, entry, path)


def _entry(c, entry: dict, path: str) -> None:
    for name in ("accuracy_clean", "accuracy_adv"):
        c.number(c.key(entry, name, path), f"{path}.{name}", 0, 1)
    c.integer(entry, "n_images", path, 1)
    for at, row in c.each(c.list(entry, "sets", path), f"{path}.sets"):
        kind = c.text(row, "kind", at, KINDS)
        c.integer(row, "k", at, 1, 10**6)
        c.integer(row, "draw", at, 0, 10**6)
        layer = c.text(row, "layer", at)
        if kind == "layer" and not layer:
            c.fail(f"{at}.layer", layer, "a layer name for kind layer")
        if kind == "converse":
            _optional_number(c, row, "accuracy", at)
            _optional_number(c, row, "flipped", at)
        else:
            c.number(c.key(row, "accuracy", at), f"{at}.accuracy", 0, 1)
            _optional_number(c, row, "undone", at, -UNDONE, UNDONE)
            _interval(c, row, "undone_ci", at, -UNDONE, UNDONE, optional=True)
