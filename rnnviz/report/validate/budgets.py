"""Budgets for untrusted results folders: no list longer than the folder's own settings could make
(``check_counts``, before ``validate``), and no more bytes read and embedded than ``--max-embed-mb``
allows (``check_bytes``, after it); both before anything is rendered.

A folder from someone else can be small and still cost gigabytes: 30 cards naming one 7.7 MB PNG
once gave a 1.2 GB report.html, 50,000 copies of one card 6 GB of memory. Every count here is
bounded by what the engine writes for the settings in ``config`` (each setting clamped to the range
``rnnviz.settings.config`` accepts), so an honest folder always passes; a folder beyond a bound is
refused with one line naming the field and the bound.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rnnviz.common.errors import UsageError
from rnnviz.common.names import ATTACKS, MODELS, PATCH_CONTROLS, RECIPES
from rnnviz.report.validate.cards import picture
from rnnviz.settings.config import INT_BOUNDS, MAX_CLASSES, MAX_EPS
from rnnviz.settings.patching import MAX_LADDER, most_sets, patch_ladder

DEFAULT_EMBED_MB = 300.0  # an honest report embeds a few MB; the flag raises this
LABELS_MAX = 1000  # the largest label set rnnviz reads (ImageNet-1k): classes a prediction can name
LAYERS_MAX = 1000  # module paths a run can list
BASE64 = 4 / 3  # bytes of a data: URI per byte of the file


def setting(config: dict, name: str) -> int:
    """An integer setting, clamped to the range a run accepts (its ceiling when absent or not an int)."""
    low, high = INT_BOUNDS[name]
    value = config.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        return high
    return max(low, min(value, high))


def check_json_size(path: Path, max_embed_mb: float | None = None) -> None:
    """results.json alone must fit the byte budget (checked before it is parsed)."""
    limit = _limit(max_embed_mb)
    size = os.stat(path).st_size
    if size > limit:
        raise UsageError(
            f"results.json is {size / 1e6:.0f} MB, over the {limit / 1e6:.0f} MB a report may read "
            "(--max-embed-mb raises it): a results folder from rnnviz holds a few MB"
        )


def check_counts(results: dict) -> None:
    """Refuse a list longer than the folder's config could produce, with one line naming it.

    Runs before ``validate`` (whose per-entry checks would take minutes on 50,000 cards), so it
    reads types defensively: what is not a list or object counts as empty and is validate's to name.
    """
    results = _obj(results)
    config = _obj(results.get("config"))
    n_eps = min(_len(config.get("eps")), MAX_EPS)
    top_k = setting(config, "top_k")
    n_recipes = min(_len(config.get("recipes")) or len(RECIPES), len(RECIPES))
    n_classes = min(_len(config.get("classes")), MAX_CLASSES)
    _most(results.get("examples"), "examples", n_classes * setting(config, "n_examples"))
    for m in MODELS:
        for i, rows in enumerate(_list(_obj(results.get("top_channels")).get(m))):
            _most(rows, f"top_channels.{m}[{i}]", top_k)
    renders = _list(results.get("renders"))
    # each model's top-k, plus the robust partners of the standard top-k (the matched-pairs gallery)
    _most(renders, "renders", (len(MODELS) + 1) * top_k * n_eps * n_recipes)
    for j, render in enumerate(renders):
        _most(_obj(render).get("diversity"), f"renders[{j}].diversity", setting(config, "diversity"))
    _cards(results, config, top_k * n_eps, n_eps)
    _patching(results, config, n_eps)
    _collapse(results, n_classes, n_eps)


def check_bytes(results: dict, root: Path, max_embed_mb: float | None = None) -> None:
    """Refuse a validated folder whose pictures would take the report past the byte budget."""
    _bytes(results, Path(root), _limit(max_embed_mb))


def _cards(results: dict, config: dict, most_cards: int, n_eps: int) -> None:
    ex = _obj(results.get("exemplars"))
    n = ex.get("n")
    per_list = min(n if isinstance(n, int) else 0, setting(config, "exemplars"))
    for m in MODELS:
        cards = _obj(ex.get(m))
        _most(cards, f"exemplars.{m}", most_cards)
        for key, card in cards.items():
            path = f"exemplars.{m}.{key}"[:120]
            card = _obj(card)
            _most(card.get("clean"), f"{path}.clean", per_list)
            change = _obj(card.get("change"))
            _most(change, f"{path}.change", n_eps)
            for k, rows in change.items():
                _most(rows, f"{path}.change.{k}"[:140], per_list)


def _patching(results: dict, config: dict, n_eps: int) -> None:
    """Sets per entry: at most what ``plan`` makes for the folder's own ladder (``most_sets``); one
    control summary per control kind and ladder step."""
    try:
        ladder = len(patch_ladder(config.get("patch", "")))
    except UsageError:
        ladder = MAX_LADDER
    layers = min(_len(config.get("layers")) or LAYERS_MAX, LAYERS_MAX)
    most = most_sets(ladder, setting(config, "patch_draws"), layers)
    for m in MODELS:
        entries = _list(_obj(results.get("patching")).get(m))
        _most(entries, f"patching.{m}", n_eps)
        for i, entry in enumerate(entries):
            _most(_obj(entry).get("sets"), f"patching.{m}[{i}].sets", most)
            _most(_obj(entry).get("controls"), f"patching.{m}[{i}].controls", len(PATCH_CONTROLS) * ladder)


def _collapse(results: dict, n_classes: int, n_eps: int) -> None:
    collapse = _obj(_obj(results.get("attacks")).get("collapse"))
    _most(collapse, "attacks.collapse", len(ATTACKS))
    for attack, per_model in collapse.items():
        for m in MODELS:
            entries = _list(_obj(per_model).get(m))
            _most(entries, f"attacks.collapse.{attack}.{m}"[:120], n_eps)
            for i, entry in enumerate(entries):
                at = f"attacks.collapse.{attack}.{m}[{i}]"[:120]
                entry = _obj(entry)
                for name in ("predicted", "dominant", "rising"):
                    _most(entry.get(name), f"{at}.{name}", LABELS_MAX)
                conf = _obj(entry.get("confusion"))
                _most(conf.get("rows"), f"{at}.confusion.rows", n_classes)
                _most(conf.get("cols"), f"{at}.confusion.cols", n_classes + 1)


def _obj(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _len(value) -> int:
    return len(value) if isinstance(value, (list, dict)) else 0


def _most(values, field: str, most: int) -> None:
    if _len(values) > most:
        raise UsageError(
            f"results.json: {field} has {_len(values)} entries, more than the {most} its config can produce: "
            "the folder was not written by rnnviz as it stands"
        )


def _bytes(results: dict, root: Path, limit: float) -> None:
    """Each distinct file is read once; each card reference embeds its file again (a data: URI)."""
    sizes: dict[Path, int] = {}
    total = float(os.stat(root / "results.json").st_size)
    for field, rel, embedded in _references(results):
        path = picture(root, rel)
        if path is None:
            continue
        key = path.resolve()
        if key not in sizes:
            st = os.stat(path)
            sizes[key] = st.st_size if stat.S_ISREG(st.st_mode) else 0
            total += sizes[key]
        if embedded:
            total += sizes[key] * BASE64
        if total > limit:
            raise UsageError(
                f"results.json: {field} takes the report past {limit / 1e6:.0f} MB read and embedded "
                f"(--max-embed-mb raises it): an rnnviz report embeds a few MB"
            )


def _references(results: dict):
    """(field, relative path, embedded as a data: URI) of every picture the renderer reads."""
    for j, ex in enumerate(results.get("examples", [])):
        yield f"examples[{j}].image", ex["image"], False
        for e, row in enumerate(ex["by_eps"]):
            for m in MODELS:
                for name in ("image", "perturbation"):
                    yield f"examples[{j}].by_eps[{e}].{m}.{name}", row[m].get(name), False
    by_channel: dict[tuple, list[str]] = {}
    for j, render in enumerate(results.get("renders", [])):
        yield f"renders[{j}].image", render["image"], False
        for d, rel in enumerate(render.get("diversity") or []):
            yield f"renders[{j}].diversity[{d}]", rel, False
        by_channel.setdefault((render["model"], render["layer"], render["channel"]), []).append(render["image"])
    ex = results.get("exemplars") or {}
    for m in MODELS:
        for key, card in (ex.get(m) or {}).items():
            field = f"exemplars.{m}.{key}"[:120]
            images = card["images"]
            bars = images["bars"]
            named = [images["clean"], bars["activation"], card["weights"]]
            named += list(images["change"].values()) + list(bars["change"].values())
            layer, _, channel = key.rpartition(":")
            named += by_channel.get((m, layer, int(channel)), [])
            for rel in named:
                yield field, rel, True


def _limit(max_embed_mb: float | None) -> float:
    mb = DEFAULT_EMBED_MB if max_embed_mb is None else max_embed_mb
    if not 0 < mb < 1e7:  # also refuses NaN
        raise UsageError(f"--max-embed-mb {mb:g} must be a positive number of megabytes, e.g. 1000")
    return mb * 1e6
