"""Validation of ``exemplars`` (channel cards, issue 14) and of the render fields the cards read
(called by ``validate``; same one-line errors naming the field).

``exemplars`` is null or absent (older runs, ``--exemplars 0``) or ``{"n": int, "standard": {...},
"robust": {...}}`` with one card per ``"layer:channel"`` key. Checked: types, finite numbers, image
indices >= 0, eps keys that are ``repr(float(eps))`` of a non-zero ``config.eps``, and every picture
a plain relative path under ``figures/cards/``. A picture that is missing is shown as missing (a
card is worth reading without one); one that exists must be a regular file inside the folder.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from rnnviz.common.errors import UsageError
from rnnviz.common.names import MODELS, parse_channel_key
from rnnviz.report.validate.ranking import _interval
from rnnviz.report.validate.safety import inside, relative_problem

CARDS = "figures/cards/"
KEY = re.compile(r"(?P<layer>[^\x00-\x1f]{1,200}):(?P<channel>\d{1,9})")
MAX_N = 1000  # exemplars per list: the engine allows 20


def eps_keys(results: dict) -> dict[str, int]:
    """The ``change`` keys the engine writes (``repr(float(eps))``, e.g. ``"0.1"``) -> eps index."""
    return {repr(float(e)): i for i, e in enumerate(results["config"]["eps"]) if e > 0}


def card_key(key: str) -> tuple[str, int]:
    """``"layer4.0:53"`` -> ``("layer4.0", 53)`` (a validated key)."""
    return parse_channel_key(key)


def picture(root: Path, rel: str | None) -> Path | None:
    """The file of a validated card picture, or None where it is null or missing: a card shows
    "picture missing" rather than failing. Not a regular file inside ``root``: None as well."""
    if rel is None:
        return None
    path = Path(root) / rel
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return path if stat.S_ISREG(mode) and inside(root, path) else None


def validate_cards(c, results: dict) -> None:
    _render_numbers(c, results)
    exemplars = results.get("exemplars")
    if exemplars is None:
        return
    if not isinstance(exemplars, dict):
        c.fail("exemplars", exemplars, "an object or null")
    for name in exemplars:
        if name != "n" and name not in MODELS:
            c.fail(f"exemplars.{name}"[:80], name, "n or a model role: " + ", ".join(MODELS))
    c.integer(exemplars, "n", "exemplars", 0, MAX_N)
    keys = eps_keys(results)
    for m in MODELS:
        for key, card in c.dict(exemplars, m, "exemplars").items():
            path = f"exemplars.{m}.{key}"[:120]
            if not KEY.fullmatch(key):
                c.fail(path, key, "a key 'layer:channel', e.g. 'layer4.0:53'")
            if not isinstance(card, dict):
                c.fail(path, card, "an object")
            _card(c, card, path, keys)


def _render_numbers(c, results: dict) -> None:
    """The numbers of ``renders`` a card and a gallery tile show (relative activation: the weak mark)."""
    for j, render in enumerate(results["renders"]):
        for name in ("relative_activation", "final_activation"):
            if render.get(name) is not None:
                c.number(render[name], f"renders[{j}].{name}")


def _card(c, card: dict, path: str, keys: dict[str, int]) -> None:
    _rows(c, c.list(card, "clean", path), f"{path}.clean", -1e12)
    for key, rows in _by_eps(c, card, "change", path, keys).items():
        if not isinstance(rows, list):
            c.fail(f"{path}.change.{key}", rows, "a list")
        _rows(c, rows, f"{path}.change.{key}", 0)
    images = c.dict(card, "images", path)
    at = f"{path}.images"
    _file(c, c.key(images, "clean", at), f"{at}.clean")
    for key, rel in _by_eps(c, images, "change", at, keys).items():
        _file(c, rel, f"{at}.change.{key}")
    bars = c.dict(images, "bars", at)
    _file(c, c.key(bars, "activation", f"{at}.bars"), f"{at}.bars.activation")
    for key, rel in _by_eps(c, bars, "change", f"{at}.bars", keys).items():
        _file(c, rel, f"{at}.bars.change.{key}")
    _file(c, c.key(card, "weights", path), f"{path}.weights")
    scale = card.get("map_scale")
    if scale is not None:
        if not isinstance(scale, dict):
            c.fail(f"{path}.map_scale", scale, "an object")
        _interval(c, scale, "activation", f"{path}.map_scale", -1e12, optional=True)
        for key in _by_eps(c, scale, "change", f"{path}.map_scale", keys, optional=True):
            _interval(c, scale["change"], key, f"{path}.map_scale.change", 0)


def _by_eps(c, obj: dict, name: str, path: str, keys: dict[str, int], optional: bool = False) -> dict:
    """A dict keyed by eps (``"0.1"``): every key one of ``config.eps`` above 0."""
    if optional and obj.get(name) is None:
        return {}
    value = c.dict(obj, name, path)
    for key in value:
        if key not in keys:
            c.fail(f"{path}.{name}.{key}"[:120], key, "an eps key of config.eps above 0: " + ", ".join(keys))
    return value


def _rows(c, rows: list, path: str, low: float) -> None:
    """Exemplar rows: ``{"index": image index >= 0, "value": finite number >= low}``."""
    for at, row in c.each(rows, path):
        c.integer(row, "index", at)
        c.number(c.key(row, "value", at), f"{at}.value", low)


def _file(c, rel, field: str) -> None:
    """Null, or a plain relative path under figures/cards/; an existing file must be a regular one
    inside the folder (no symlink out, no FIFO); a missing one is shown as missing."""
    if rel is None:
        return
    problem = relative_problem(rel)
    if problem is None and not rel.startswith(CARDS):
        problem = f"expected a path under {CARDS}"
    if problem:
        c.fail(field, rel, problem.removeprefix("expected "))
    path = c.root / rel
    if os.path.lexists(path) and picture(c.root, rel) is None:
        raise UsageError(
            f"results.json: {field} names {rel!r}, which is not a regular file inside the report folder "
            "(a symlink or a special file): a report reads only its own folder"
        )
