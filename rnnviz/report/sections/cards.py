"""The section "What each channel responds to: channel cards" (issue 14), already formatted.

One card per channel a gallery shows (``results.exemplars``, validated by ``validate_cards``):
its renders with their activation relative to the best real image, the real images that excite it
most with the channel's map over them, per eps the images the attack changes most (clean |
adversarial | |ΔF|), σ with its interval and noise baseline where it is in the top-k, the
first layer's filter, and the damage patching it alone undoes where it is the k = 1 set.

Card pictures are embedded as data: URIs like the figures. A picture that is missing or is not a
plain PNG of sane size is shown as missing, never opened by the browser or WeasyPrint.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from rnnviz.common.names import MODELS, layer_order, slug
from rnnviz.report.datauri import data_uri
from rnnviz.report.sections.catalogue import rendered_recipes
from rnnviz.report.text import patch_numbers as pn
from rnnviz.report.text.format import eps_text, format_interval, pct
from rnnviz.report.validate.cards import card_key, eps_keys, picture
from rnnviz.results.model import Results
from rnnviz.results.model.channels import RankingEntry
from rnnviz.results.model.pictures import BestAnalysed, Card, CleanExemplar, ExemplarPoolInfo, ExemplarRow, Render

PNG = b"\x89PNG\r\n\x1a\n"
MAX_BYTES = 8_000_000  # a card picture the engine writes is tens of kB
MAX_SIDE = 8192
SHEET_COLOURS = 256  # the map sheets embedded with a palette (``datauri``): they look the same, half the size
# Pixels wide the sheets are embedded at: 1.5x their widest placement (380 and 240 CSS px, report.css)
SHOWN_PX = {"clean": 570, "change": 360}


def enabled(results: Results) -> bool:
    return results.exemplars is not None and any(results.exemplars.of(m) for m in MODELS)


def card_id(model: str, key: str) -> str:
    """``("robust", "layer4.0:53")`` -> ``card-robust-layer4-0-53`` (an HTML id and link target)."""
    layer, channel = card_key(key)
    return f"card-{model}-{slug(layer)}-{channel}"


def weak(render: Render) -> bool:
    """A render that excites its channel less than the best real image does."""
    rel = render.relative_activation
    return rel is not None and rel < 1


def relative_text(render: Render) -> str:
    rel = render.relative_activation
    if rel is None:
        return "activation relative to the best real image unknown"
    if rel < 1:
        return f"weak: below the best real image ({rel:.2f}×)"
    return f"{rel:.2f}× the best real image"


def context(results: Results, root: Path | None) -> dict:
    ex = results.exemplars
    if ex is None or not enabled(results) or root is None:
        return {"enabled": False, "links": {}}
    keys = eps_keys(results.config.eps)
    eps = results.config.eps
    largest = max(keys.values(), key=lambda i: eps[i], default=None)
    models = [
        {"role": m, "name": results.models.of(m).name, "cards": _cards(results, root, m, keys, largest)} for m in MODELS
    ]
    share_repeated_bars(models)
    return {
        "enabled": True,
        "n": ex.n,
        "pool": pool_text(ex.pool),
        "largest": None if largest is None else eps_text(results.config, largest),
        "models": models,
        "links": {i: {m: links(results, m, i) for m in MODELS} for i in keys.values()},
    }


def links(results: Results, m: str, i: int) -> list[dict]:
    """The gallery tiles of one model at eps index ``i``, in tile order, with their card's id."""
    cards = results.exemplars.of(m) if results.exemplars else {}
    return [
        {"href": f"#{card_id(m, key)}", "label": f"{c.layer} · {c.channel}"}
        for c in results.top_channels.of(m)[i]
        if (key := f"{c.layer}:{c.channel}") in cards
    ]


def _cards(results: Results, root: Path, m: str, keys: dict[str, int], largest: int | None) -> list[dict]:
    cards = results.exemplars.of(m) if results.exemplars else {}
    order = layer_order(results.config.layers, [card_key(k)[0] for k in cards])
    seen: set[str] = set()
    out = []
    for key in sorted(cards, key=lambda k: (order.index(card_key(k)[0]), card_key(k)[1])):
        ident = card_id(m, key)
        while ident in seen:  # two layer names with one slug ("a.b", "a-b")
            ident += "-x"
        seen.add(ident)
        out.append(_card(results, root, m, key, ident, keys, largest))
    return out


def share_repeated_bars(models: list[dict]) -> None:
    """Embed each distinct colour bar once: a card whose bar is byte for byte one an earlier card
    already shows (the same scale) names that card instead (``bar_on``), so the HTML stays small."""
    first: dict[str, str] = {}
    for model in models:
        for card in model["cards"]:
            for holder in [card["clean"], *card["changes"]]:
                bar, holder["bar_on"] = holder["bar"], None
                if bar and bar in first:
                    holder["bar"], holder["bar_on"] = None, first[bar]
                elif bar:
                    first[bar] = card["id"]


def pool_text(pool: ExemplarPoolInfo | None) -> str:
    """Where the clean exemplars come from, in words (a run before the pool: the analysed images)."""
    if not pool or pool.mode != "all":
        return "among the analysed images"
    classes = pool.classes
    if not classes:
        return "among the analysed images (the source holds no other class)"
    return (
        f"among the analysed images and {pool.n_images} more of the source's {len(classes)} other "
        f"classes (at most {pool.per_class} per class, seen clean only)"
    )


def shown_eps(
    eps: list[float],
    ranking: list[RankingEntry | None],
    layer: str,
    channel: int,
    keys: dict[str, int],
    largest: int | None,
) -> int | None:
    """The eps index a printed card shows the attack's change at: the largest eps where the channel
    is in the ranking's top-k (what put it in the gallery), else the largest eps. ``ranking``: one
    model's, per eps."""
    ranked = [i for i in keys.values() if _ranked(ranking[i], layer, channel)]
    return max(ranked, key=lambda i: eps[i]) if ranked else largest


def _card(results: Results, root: Path, m: str, key: str, ident: str, keys: dict, largest: int | None) -> dict:
    card = results.exemplars.of(m)[key] if results.exemplars else None
    if card is None:
        raise ValueError("a card without exemplars")
    layer, channel = card_key(key)
    images = card.images
    bars = images.bars
    best = _best(results, m, key, card)
    shown = shown_eps(results.config.eps, results.ranking.of(m), layer, channel, keys, largest)
    return {
        "id": ident,
        "model": m,
        "layer": layer,
        "channel": channel,
        "best": "–" if best is None else f"{best:.3g}",
        "pool_best": _pool_best(card, best),
        "renders": _renders(results, root, m, layer, channel),
        "clean": {
            "uri": uri(root, images.clean, SHEET_COLOURS, SHOWN_PX["clean"]),
            "bar": uri(root, bars.activation, SHEET_COLOURS),
            "numbers": _values(card.clean),
            "classes": _classes(card.clean),
        },
        "shown": None if shown is None else eps_text(results.config, shown),
        "changes": [
            {
                "label": eps_text(results.config, i),
                "shown": i == shown,
                # the shown ε embedded (the PDF prints it); the others linked, keeping the HTML small
                "uri": uri(root, images.change.get(k), SHEET_COLOURS, SHOWN_PX["change"]) if i == shown else None,
                "href": images.change.get(k) if i != shown and picture(root, images.change.get(k)) else None,
                "bar": uri(root, bars.change.get(k), SHEET_COLOURS),
                "numbers": _values(card.change.get(k, [])),
                "sigma": _sigma(results, m, i, layer, channel),
                "ranked": _ranked(results.ranking.of(m)[i], layer, channel),
                "patching": _patching(results, m, i, layer, channel),
            }
            for k, i in sorted(keys.items(), key=lambda kv: kv[1])
            if k in card.change or k in images.change
        ],
        "weights": uri(root, card.weights),
    }


def _best(results: Results, m: str, key: str, card: Card) -> float | None:
    """The best analysed image's spatial-mean activation (what the renders are measured against;
    the first clean exemplar in runs from before the pool), else the sweep's maximum."""
    best: BestAnalysed | CleanExemplar | None = (
        card.best_analysed if "best_analysed" in card.model_fields_set else _first_clean(card)
    )
    if best:
        return best.value
    value = results.channel_max_activation.of(m).get(key)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else None


def _pool_best(card: Card, best: float | None) -> str | None:
    """The first real image shown, where the pool's images beat the analysed classes' best."""
    first = _first_clean(card)
    return f"{first.value:.3g}" if first and best is not None and first.value > best else None


def _first_clean(card: Card) -> CleanExemplar | None:
    return card.clean[0] if card.clean else None


def _renders(results: Results, root: Path, m: str, layer: str, channel: int) -> list[dict]:
    mine: dict[str, Render] = {
        r.recipe: r for r in results.renders if (r.model, r.layer, r.channel) == (m, layer, channel)
    }
    out = []
    for recipe in rendered_recipes(results):
        r = mine.get(recipe)
        if r is None:
            out.append({"recipe": recipe, "uri": None, "note": "not rendered", "text": "", "weak": False})
        elif r.dead:
            out.append({"recipe": recipe, "uri": None, "note": "dead channel", "text": "", "weak": False})
        else:
            src = uri(root, r.image)
            note = "" if src else "picture missing"
            out.append({"recipe": recipe, "uri": src, "note": note, "text": relative_text(r), "weak": weak(r)})
    return out


def _values(rows: Sequence[CleanExemplar | ExemplarRow]) -> str:
    return " · ".join(f"{r.value:.3g}" for r in rows)


def _classes(rows: list[CleanExemplar]) -> str:
    """The exemplars' classes in picture order ("" in runs from before the rows named them)."""
    return " · ".join(str(r.class_) for r in rows) if all(r.class_ is not None for r in rows) else ""


def _sigma(results: Results, m: str, i: int, layer: str, channel: int) -> str:
    """σ with its interval and the noise baseline at eps index ``i``, where the channel is in the top-k."""
    entry = results.ranking.of(m)[i]
    top = entry.top if entry else []
    for rank, r in enumerate(top, start=1):
        if (r.layer, r.channel) == (layer, channel):
            ci = "" if r.sensitivity_ci is None else f" [{format_interval(r.sensitivity_ci, '{:.3g}')}]"
            p = "" if r.p_top is None else f", in the top {len(top)} in {pct(r.p_top)} of resamples"
            return (
                f"σ = {r.sensitivity:.3g}{ci}, noise σ_noise = {r.noise:.3g} "
                f"({r.noise_ratio:.2f} of σ); rank {rank} of {len(top)}{p}"
            )
    return f"not in the top {len(top)} at this ε"


def _ranked(entry: RankingEntry | None, layer: str, channel: int) -> bool:
    return entry is not None and any((r.layer, r.channel) == (layer, channel) for r in entry.top)


def _patching(results: Results, m: str, i: int, layer: str, channel: int) -> str:
    """Where the channel alone is the k = 1 set (the top of the ranking), what patching it undoes."""
    e = pn.entry(results, m, i)
    entry = results.ranking.of(m)[i]
    first = entry.top[0] if entry and entry.top else None
    if not e or not entry or not first or (first.layer, first.channel) != (layer, channel):
        return ""
    row = pn.row(e, entry.measure, 1)
    if row is None or row.undone is None:
        return ""
    ci = row.undone_ci
    text = (
        f"Putting back this channel's clean values alone undoes {pct(row.undone)}"
        + ("" if ci is None else f" ({format_interval(ci, '{:.0%}')})")
        + f" of the damage (clean {pct(e.accuracy_clean)} → attacked {pct(e.accuracy_adv)})"
    )
    rnd = pn.random_stats(e, 1)
    if rnd is not None:
        spread = f"{pn.SPREAD} of {rnd[3]} draws: {pct(rnd[1])}–{pct(rnd[2])}"
        text += f"; one random channel: {pct(rnd[0])} on average ({spread})"
    return text + "."


def uri(root: Path, rel: str | None, colours: int | None = None, width: int | None = None) -> str | None:
    """A card picture as a data: URI, or None where it is null, missing or not a sane PNG; map
    sheets and bars pass ``colours`` (a palette, ``datauri``) and the width they are shown at,
    renders keep every colour."""
    path = picture(root, rel)
    return None if path is None else data_uri(path, sane_png, colours, width)


def sane_png(path: Path, data: bytes) -> bool:
    """A plain PNG of sane size (checked on the bytes and the header; nothing is decoded)."""
    if len(data) > MAX_BYTES or not data.startswith(PNG):
        return False
    try:
        with Image.open(path) as img:  # reads the header only: size and format
            return img.format == "PNG" and max(img.size) <= MAX_SIDE
    except (OSError, ValueError, Image.DecompressionBombError):
        return False
