"""Budgets for untrusted results folders: no list longer than the folder's own settings could make
(``check_counts``, before ``validate``), and no more bytes read and embedded than ``--max-embed-mb``
allows (``check_bytes``, after it); both before anything is rendered.

A folder from someone else can be small and still cost gigabytes: 30 cards naming one 7.7 MB PNG
once gave a 1.2 GB report.html, 50,000 copies of one card 6 GB of memory. Every count is
bounded by what the engine writes for the settings in ``config`` (``limits``), so an honest folder
always passes; a folder beyond a bound is refused with one line naming the field and the bound.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rnnviz.common.errors import UsageError
from rnnviz.common.names import MODELS
from rnnviz.report.validate.cards import picture
from rnnviz.report.validate.limits import check_sizes

DEFAULT_EMBED_MB = 300.0  # an honest report embeds a few MB; the flag raises this
BASE64 = 4 / 3  # bytes of a data: URI per byte of the file


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
    """Refuse a list or object longer than the folder's config could produce, with one line naming it
    (``limits``: every container of the schema has a limit).

    Runs before ``validate`` (whose per-entry checks would take minutes on 50,000 cards), so it
    reads types defensively: what is not a list or object is validate's to name.
    """
    check_sizes(results)


def check_bytes(results: dict, root: Path, max_embed_mb: float | None = None) -> None:
    """Refuse a validated folder whose pictures would take the report past the byte budget."""
    _bytes(results, Path(root), _limit(max_embed_mb))


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
